/** Why a payload was refused; the reason becomes a metric label, so the set stays small. */
export type PayloadFault = 'empty' | 'oversize' | 'not-json' | 'invalid' | 'not-jpeg' | 'not-wav' | 'no-metadata' | 'topic-mismatch';

export class PayloadError extends Error {
  readonly fault: PayloadFault;
  constructor(fault: PayloadFault, message: string) {
    super(message);
    this.name = 'PayloadError';
    this.fault = fault;
  }
}
