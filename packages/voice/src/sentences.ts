import { MAX_SPOKEN_LINES, toPlainText, type ControlResult, type LaneEvent, type Scan, type SpokenLines, type SpokenName } from '@sightline/schemas';
import { isKeyName, keyLabel } from '@sightline/keypad';
import { enUS } from './locales/en-US.ts';
import { esES } from './locales/es-ES.ts';
import { frFR } from './locales/fr-FR.ts';
import { count, unitWord, type LocaleTemplates } from './templates.ts';

/**
 * Scans, lane events and control results to sentences. Everything a locale says lives in its
 * table under `locales/`; numbers, units and plural categories come from Intl, money is spoken
 * from integer minor units in words that read well aloud ("1 dollar 20", not "$1.20").
 */

export type SpeechKind = 'scan' | 'control' | LaneEvent['type'];

export interface Sentence {
  /** The whole sentence, plain text. */
  text: string;
  /**
   * The same sentence cut where a short pause sounds natural; the first piece of a scan names the
   * product and repeats, so it can be cached apart from the prices.
   */
  parts: string[];
  /** The locale the sentence is in (the lane locale, or the default one when that is unsupported). */
  locale: string;
  /** The locale the event asked for, when it was not supported and `locale` was used instead. */
  unsupportedLocale?: string;
  kind: SpeechKind;
  /** For a control result: the command it answers. */
  command?: string;
  /** False for totals: a newer announcement must not cut them off. */
  interruptible: boolean;
  /**
   * Said part by part, one audio message each (a receipt, a basket read-out): long, and each line
   * stands alone, so lanes take turns between lines and a stop cuts at once.
   */
  perPart: boolean;
  /** Shown, not said: the action is itself the answer (a repeat, a resume, a stop), or a lane event says it. */
  silent: boolean;
}

export const MAX_SENTENCE_CHARS = 1000;

const TEMPLATES: Record<string, LocaleTemplates> = { 'en-US': enUS, 'es-ES': esES, 'fr-FR': frFR };

export const SUPPORTED_LOCALES: readonly string[] = Object.keys(TEMPLATES);

export function isSupportedLocale(locale: string): boolean {
  return locale in TEMPLATES;
}

/**
 * Money from integer minor units, as said aloud: "83 cents", "1 dollar 20", "4 euros 5 cents"
 * ("4 euros 5" would be heard as 4.50), "4 dollars". A currency the table does not name is said
 * with Intl's own currency name ("1.20 Swiss francs").
 */
export function spokenMoney(locale: string, currency: string, minorUnits: number): string {
  const templates = TEMPLATES[locale] ?? enUS;
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  const scale = 10 ** digits;
  const names = templates.currencies[currency];
  if (!names) {
    return new Intl.NumberFormat(locale, { style: 'currency', currency, currencyDisplay: 'name' }).format(minorUnits / scale);
  }
  const major = Math.floor(minorUnits / scale);
  const minor = minorUnits % scale;
  if (digits === 0 || minor === 0) return unitWord(locale, major, names.major);
  if (major === 0) return unitWord(locale, minor, names.minor);
  const small = minor < 10;
  return templates.money.join(unitWord(locale, major, names.major), small ? unitWord(locale, minor, names.minor) : count(locale, minor), small);
}

/** "0.42 kilograms", "1 kilogram", "0,42 kilogramos" (grams to kilograms, at most 2 decimals: easier to follow by ear than the scale's grams). */
export function spokenKilograms(locale: string, grams: number): string {
  return new Intl.NumberFormat(locale, { style: 'unit', unit: 'kilogram', unitDisplay: 'long', maximumFractionDigits: 2 }).format(grams / 1000);
}

/** "2 minutes", "90 seconds", "1 minute 30 seconds"... whole minutes when the time is a whole number of them. */
export function spokenDuration(locale: string, seconds: number): string {
  const t = TEMPLATES[locale] ?? enUS;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (minutes === 0) return unitWord(locale, rest, t.units.second);
  if (rest === 0) return unitWord(locale, minutes, t.units.minute);
  return `${unitWord(locale, minutes, t.units.minute)} ${t.and} ${unitWord(locale, rest, t.units.second)}`;
}

/** A keypad key as said: the digit of KP5 or 5, a word for the others ("plus"), else the name itself (F1). */
export function spokenKey(locale: string, key: string): string {
  return isKeyName(key) ? keyLabel(key, locale) : key;
}

export interface SentenceOptions {
  /** Said in this locale when the event's locale has no templates (default en-US). */
  defaultLocale?: string;
}

/** One line per basket line, then how many more. */
function readLines(t: LocaleTemplates, locale: string, currency: string, read: SpokenLines): string[] {
  const lines = read.lines.map((line) =>
    t.line(
      t.items(line.quantity, line.product.spoken),
      line.pricing === 'kg' && line.weightGrams !== null ? spokenKilograms(locale, line.weightGrams) : null,
      spokenMoney(locale, currency, line.priceMinor),
    ),
  );
  return read.more > 0 ? [...lines, t.moreLines(read.more)] : lines;
}

function capitalised(text: string): string {
  return text.charAt(0).toLocaleUpperCase() + text.slice(1);
}

interface Said {
  parts: string[];
  perPart?: boolean;
  silent?: boolean;
}

function eventParts(t: LocaleTemplates, locale: string, event: LaneEvent): Said {
  switch (event.type) {
    case 'not-recognised':
      return { parts: [t.notRecognised] };
    case 'place-on-scale':
      return { parts: [t.placeOnScale(t.the(event.product.spoken))] };
    case 'weight-mismatch':
      return { parts: [t.weightMismatch(t.the(event.product.spoken))] };
    case 'removed':
      return { parts: t.removed(t.items(event.item.quantity, event.product.spoken), spokenMoney(locale, event.currency, event.basket.totalMinor)) };
    case 'cleared':
      return { parts: [t.cleared] };
    case 'total': {
      const total = t.total(spokenMoney(locale, event.currency, event.basket.totalMinor), unitWord(locale, event.basket.count, t.units.item));
      if (!event.receipt) return { parts: total };
      // The receipt: its lines one by one, then the total said as one piece.
      return {
        parts: [t.receiptStart, ...readLines(t, locale, event.currency, event.receipt).map(capitalised), `${total.join(' ')} ${t.receiptEnd}`],
        perPart: true,
      };
    }
    case 'idle-warning':
      return { parts: t.idleWarning(spokenDuration(locale, event.remainingSeconds), event.moreTimeKey ? spokenKey(locale, event.moreTimeKey) : null) };
    case 'session-ended':
      return { parts: [t.sessionEnded] };
    case 'trouble':
      return { parts: [t.trouble[event.problem][event.state]] };
  }
}

function controlParts(t: LocaleTemplates, locale: string, result: ControlResult): Said {
  const c = t.control;
  switch (result.outcome) {
    case 'repeated':
      return { parts: [c.repeated], silent: true };
    case 'paused':
      return { parts: [c.paused(null)] };
    case 'resumed':
      return { parts: [c.resumed], silent: true };
    case 'stopped':
      return { parts: [c.stopped], silent: true };
    case 'volume':
      return { parts: [c.volume(count(locale, result.volume.level), count(locale, result.volume.steps), result.volume.output === 'headset')] };
    case 'help': {
      if (result.keys.length === 0) {
        const names = [...new Set(Object.values(c.commands))];
        return { parts: [c.helpNoKeypad(`${names.slice(0, -1).join(', ')} ${t.and} ${names.at(-1)!}`)] };
      }
      return { parts: [c.helpStart, ...result.keys.map(({ key, command }) => c.helpKey(spokenKey(locale, key), c.commands[command]))], perPart: true };
    }
    case 'basket': {
      if (result.basket.count === 0) return { parts: [t.basketEmpty] };
      return {
        parts: [
          t.basketStart(unitWord(locale, result.basket.count, t.units.item)),
          ...readLines(t, locale, result.currency, result.read).map(capitalised),
          t.basketTotal(spokenMoney(locale, result.currency, result.basket.totalMinor)),
        ],
        perPart: true,
      };
    }
    case 'removed':
      return { parts: [c.removed], silent: true };
    case 'finished':
      return { parts: [c.finished], silent: true };
    case 'more-time':
      return { parts: [c.moreTime(spokenDuration(locale, result.seconds))] };
    case 'language':
      return { parts: [c.language] };
    case 'refused': {
      const volume = result.volume
        ? ` ${c.volume(count(locale, result.volume.level), count(locale, result.volume.steps), result.volume.output === 'headset')}`
        : '';
      return { parts: [`${c.refused[result.reason]}${volume}`] };
    }
  }
}

/**
 * The sentence for a scan, a lane event or a control result, in its locale (or the default locale
 * when that is not supported: never silent by accident). Pure and cheap: no I/O, usable without the service.
 */
export function sentenceFor(event: Scan | LaneEvent | ControlResult, options: SentenceOptions = {}): Sentence {
  const defaultLocale = options.defaultLocale !== undefined && isSupportedLocale(options.defaultLocale) ? options.defaultLocale : 'en-US';
  const supported = isSupportedLocale(event.locale);
  const locale = supported ? event.locale : defaultLocale;
  const t = TEMPLATES[locale]!;
  let kind: SpeechKind;
  let said: Said;
  if ('outcome' in event) {
    kind = 'control';
    said = controlParts(t, locale, event);
  } else if ('type' in event) {
    kind = event.type;
    said = eventParts(t, locale, event);
  } else {
    kind = 'scan';
    const weight = event.pricing === 'kg' && event.weightGrams !== null ? spokenKilograms(locale, event.weightGrams) : null;
    said = { parts: t.scan(t.items(event.quantity, event.product.spoken), weight, spokenMoney(locale, event.currency, event.priceMinor)) };
  }
  const parts = said.parts.map((part) => toPlainText(part, 400)).filter((part) => part.length > 0);
  const text = toPlainText(parts.join(' '), MAX_SENTENCE_CHARS);
  return {
    text,
    parts,
    locale,
    ...(supported ? {} : { unsupportedLocale: event.locale }),
    kind,
    ...('outcome' in event && event.command !== undefined ? { command: event.command } : {}),
    interruptible: kind !== 'total' && kind !== 'session-ended',
    perPart: said.perPart ?? false,
    silent: said.silent ?? false,
  };
}

/**
 * Sentences that never change, per locale, worth rendering before the first shopper arrives:
 * not-recognised, cleared, every trouble begin/end, the spoken controls that carry no number.
 */
export function fixedSentences(locale: string): string[] {
  const t = TEMPLATES[locale];
  if (!t) return [];
  const c = t.control;
  const sentences = [
    t.notRecognised,
    t.cleared,
    t.sessionEnded,
    ...Object.values(t.trouble).flatMap((s) => [s.begin, s.end]),
    c.paused(null),
    c.language,
    ...Object.values(c.refused),
    t.receiptStart,
    t.basketEmpty,
  ];
  return [...new Set(sentences)];
}

/** Sentences and scan openings that depend only on the product, for the catalog pre-render. */
export function productPhrases(locale: string, spoken: SpokenName): string[] {
  const t = TEMPLATES[locale];
  if (!t) return [];
  const the = t.the(spoken);
  return [t.placeOnScale(the), t.weightMismatch(the), t.scan(t.items(1, spoken), null, '')[0]!].map((p) => toPlainText(p, MAX_SENTENCE_CHARS));
}

export { MAX_SPOKEN_LINES };
