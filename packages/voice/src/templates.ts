import type { LaneCommand, RefusalReason, SpokenName, Trouble } from '@sightline/schemas';

/**
 * What one locale says, as functions of the already-spoken parts (money, weights, counts and key
 * names arrive in words). One table per locale under `locales/`; `sentences.ts` picks and joins.
 */
export interface LocaleTemplates {
  /** "a banana", "an orange", "3 bananas" */
  items(count: number, name: SpokenName): string;
  /** "the banana" */
  the(name: SpokenName): string;
  scan(what: string, weight: string | null, price: string): string[];
  notRecognised: string;
  placeOnScale(the: string): string;
  weightMismatch(the: string): string;
  removed(what: string, total: string): string[];
  cleared: string;
  total(total: string, count: string): string[];
  /** One line of a receipt or basket read-out: "2 bananas, 1 dollar 10." */
  line(what: string, weight: string | null, price: string): string;
  /** "And 3 more items." */
  moreLines(n: number): string;
  receiptStart: string;
  receiptEnd: string;
  basketStart(items: string): string;
  basketEmpty: string;
  basketTotal(total: string): string;
  idleWarning(remaining: string, key: string | null): string[];
  sessionEnded: string;
  trouble: Record<Trouble, { begin: string; end: string }>;
  control: {
    repeated: string;
    paused(resumeKey: string | null): string;
    resumed: string;
    stopped: string;
    volume(level: string, steps: string, headset: boolean): string;
    /** "Press 5 to repeat." */
    helpKey(key: string, command: string): string;
    /** Without a keypad: the commands by name. */
    helpNoKeypad(commands: string): string;
    helpStart: string;
    removed: string;
    finished: string;
    moreTime(duration: string): string;
    /** Said in the new language. */
    language: string;
    refused: Record<RefusalReason, string>;
    /** What each command does, as a help sentence names it: "hear your basket". */
    commands: Record<LaneCommand, string>;
  };
  money: { join(major: string, minor: string, minorIsSmall: boolean): string };
  /** Currency unit names: [singular, plural] for the main unit and the minor unit. */
  currencies: Record<string, { major: [string, string]; minor: [string, string] }>;
  /** [singular, plural]: items, minutes, seconds. */
  units: { item: [string, string]; minute: [string, string]; second: [string, string] };
  /** How a list is joined: "a, b and c". */
  and: string;
}

export function count(locale: string, value: number): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value);
}

/** "1 item", "3 items", in the locale's plural rules. */
export function unitWord(locale: string, n: number, [one, other]: [string, string]): string {
  return `${count(locale, n)} ${new Intl.PluralRules(locale).select(n) === 'one' ? one : other}`;
}

/** The spoken name for `count` of a product: its own plural when the catalog gives one, else the regular plural. */
export function plural(locale: string, n: number, name: SpokenName, regular: (word: string) => string): string {
  const category = new Intl.PluralRules(locale).select(n);
  return category === 'one' ? name.one : (name.other ?? regular(name.one));
}
