/** Too many predictions in progress: the caller should try again shortly. */
export class BusyError extends Error {
  override name = 'BusyError';
}

/** No model serves yet: the first one is still loading. */
export class NoModelError extends Error {
  constructor() {
    super('no model loaded yet');
    this.name = 'NoModelError';
  }
}
