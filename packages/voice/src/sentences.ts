import { toPlainText, type LaneEvent, type Scan, type SpokenName, type Trouble } from '@sightline/schemas';

/**
 * Lane events to sentences. Everything a locale says lives in one `LocaleTemplates` table below;
 * numbers, units and plural categories come from Intl, money is spoken from integer minor units in
 * words that read well aloud ("1 dollar 20", not "$1.20").
 */

export type SpeechKind = 'scan' | LaneEvent['type'];

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
  /** False for totals: a newer announcement must not cut them off. */
  interruptible: boolean;
}

export const MAX_SENTENCE_CHARS = 1000;

interface LocaleTemplates {
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
  trouble: Record<Trouble, { begin: string; end: string }>;
  money: { join(major: string, minor: string, minorIsSmall: boolean): string };
  /** Currency unit names: [singular, plural] for the main unit and the minor unit. */
  currencies: Record<string, { major: [string, string]; minor: [string, string] }>;
}

const vowelSound = /^(?:[aeiou]|h(?:our|onest|onou?r|eir))/i;
const consonantSoundDespiteVowel = /^(?:u[bcfhjkqrstn][aeiou]|uni|use|usu|ur[aeiou]|eu|ewe|one|once)/i;

function englishArticle(word: string): string {
  return vowelSound.test(word) && !consonantSoundDespiteVowel.test(word) ? 'an' : 'a';
}

function englishPlural(word: string): string {
  if (/(?:s|x|z|ch|sh|o)$/i.test(word)) return `${word}es`;
  if (/[^aeiou]y$/i.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

function romancePlural(word: string): string {
  if (/[aeiouéáó]$/i.test(word)) return `${word}s`;
  if (/z$/i.test(word)) return `${word.slice(0, -1)}ces`;
  return `${word}es`;
}

function frenchPlural(word: string): string {
  if (/[sxz]$/i.test(word)) return word;
  if (/(?:eau|au|eu)$/i.test(word)) return `${word}x`;
  return `${word}s`;
}

const spanishFeminine = (word: string) => /(?:a|ión|dad|tad|tud|umbre)$/i.test(word.split(' ')[0] ?? word);

function plural(locale: string, count: number, name: SpokenName, regular: (word: string) => string): string {
  const category = new Intl.PluralRules(locale).select(count);
  return category === 'one' ? name.one : (name.other ?? regular(name.one));
}

function count(locale: string, value: number): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value);
}

const TEMPLATES: Record<string, LocaleTemplates> = {
  'en-US': {
    items: (n, name) =>
      n === 1 ? `${name.article ?? englishArticle(name.one)} ${name.one}` : `${count('en-US', n)} ${plural('en-US', n, name, englishPlural)}`,
    the: (name) => `the ${name.one}`,
    scan: (what, weight, price) => [`You scanned ${what},`, ...(weight ? [`${weight},`] : []), `${price}.`],
    notRecognised: 'Item not recognised, please try again.',
    placeOnScale: (the) => `Please place ${the} on the scale.`,
    weightMismatch: (the) => `The weight does not match ${the}. Please check the items on the scale.`,
    removed: (what, total) => [`Removed ${what}.`, `Your new total is ${total}.`],
    cleared: 'Your basket is now empty.',
    total: (total, items) => [`Your total is ${total}`, `for ${items}.`],
    trouble: {
      'camera-offline': { begin: 'The camera is not working. Please ask for assistance.', end: 'The camera is working again.' },
      'inference-offline': { begin: 'Item recognition is not working. Please ask for assistance.', end: 'Item recognition is working again.' },
      'scale-offline': { begin: 'The scale is not working. Please ask for assistance.', end: 'The scale is working again.' },
      'speech-unavailable': { begin: 'Speech is unavailable. Please ask for assistance.', end: 'Speech is available again.' },
    },
    money: { join: (major, minor) => `${major} ${minor}` },
    currencies: {
      USD: { major: ['dollar', 'dollars'], minor: ['cent', 'cents'] },
      EUR: { major: ['euro', 'euros'], minor: ['cent', 'cents'] },
      GBP: { major: ['pound', 'pounds'], minor: ['penny', 'pence'] },
      CAD: { major: ['dollar', 'dollars'], minor: ['cent', 'cents'] },
    },
  },
  'es-ES': {
    items: (n, name) =>
      n === 1 ? `${name.article ?? (spanishFeminine(name.one) ? 'una' : 'un')} ${name.one}` : `${count('es-ES', n)} ${plural('es-ES', n, name, romancePlural)}`,
    the: (name) =>
      `${(name.article !== undefined ? /^una?s?$/i.test(name.article) && name.article.toLowerCase().startsWith('una') : spanishFeminine(name.one)) ? 'la' : 'el'} ${name.one}`,
    scan: (what, weight, price) => [`Has escaneado ${what},`, ...(weight ? [`${weight},`] : []), `${price}.`],
    notRecognised: 'Artículo no reconocido, inténtelo de nuevo.',
    placeOnScale: (the) => `Coloque ${the} en la báscula, por favor.`,
    weightMismatch: (the) => `El peso no corresponde con ${the}. Compruebe los artículos en la báscula.`,
    removed: (what, total) => [`Se ha quitado ${what}.`, `El nuevo total es ${total}.`],
    cleared: 'Su cesta está vacía.',
    total: (total, items) => [`Su total es ${total}`, `por ${items}.`],
    trouble: {
      'camera-offline': { begin: 'La cámara no funciona. Pida ayuda, por favor.', end: 'La cámara vuelve a funcionar.' },
      'inference-offline': {
        begin: 'El reconocimiento de artículos no funciona. Pida ayuda, por favor.',
        end: 'El reconocimiento de artículos vuelve a funcionar.',
      },
      'scale-offline': { begin: 'La báscula no funciona. Pida ayuda, por favor.', end: 'La báscula vuelve a funcionar.' },
      'speech-unavailable': { begin: 'La voz no está disponible. Pida ayuda, por favor.', end: 'La voz vuelve a estar disponible.' },
    },
    money: { join: (major, minor) => `${major} con ${minor}` },
    currencies: {
      EUR: { major: ['euro', 'euros'], minor: ['céntimo', 'céntimos'] },
      USD: { major: ['dólar', 'dólares'], minor: ['centavo', 'centavos'] },
      GBP: { major: ['libra', 'libras'], minor: ['penique', 'peniques'] },
    },
  },
  'fr-FR': {
    items: (n, name) => (n === 1 ? `${name.article ?? 'un'} ${name.one}` : `${count('fr-FR', n)} ${plural('fr-FR', n, name, frenchPlural)}`),
    the: (name) => (/^[aeiouyhéèêàâîôû]/i.test(name.one) ? `l'${name.one}` : name.article === 'une' ? `la ${name.one}` : `le ${name.one}`),
    scan: (what, weight, price) => [`Vous avez scanné ${what},`, ...(weight ? [`${weight},`] : []), `${price}.`],
    notRecognised: 'Article non reconnu, veuillez réessayer.',
    placeOnScale: (the) => `Veuillez poser ${the} sur la balance.`,
    weightMismatch: (the) => `Le poids ne correspond pas à ${the}. Vérifiez les articles sur la balance.`,
    removed: (what, total) => [`Article retiré : ${what}.`, `Votre nouveau total est de ${total}.`],
    cleared: 'Votre panier est vide.',
    total: (total, items) => [`Votre total est de ${total}`, `pour ${items}.`],
    trouble: {
      'camera-offline': { begin: 'La caméra ne fonctionne pas. Veuillez demander de l’aide.', end: 'La caméra fonctionne de nouveau.' },
      'inference-offline': {
        begin: 'La reconnaissance des articles ne fonctionne pas. Veuillez demander de l’aide.',
        end: 'La reconnaissance des articles fonctionne de nouveau.',
      },
      'scale-offline': { begin: 'La balance ne fonctionne pas. Veuillez demander de l’aide.', end: 'La balance fonctionne de nouveau.' },
      'speech-unavailable': { begin: 'La voix n’est pas disponible. Veuillez demander de l’aide.', end: 'La voix est de nouveau disponible.' },
    },
    money: { join: (major, minor, small) => (small ? `${major} et ${minor}` : `${major} ${minor}`) },
    currencies: {
      EUR: { major: ['euro', 'euros'], minor: ['centime', 'centimes'] },
      USD: { major: ['dollar', 'dollars'], minor: ['cent', 'cents'] },
      GBP: { major: ['livre', 'livres'], minor: ['penny', 'pence'] },
    },
  },
};

export const SUPPORTED_LOCALES: readonly string[] = Object.keys(TEMPLATES);

export function isSupportedLocale(locale: string): boolean {
  return locale in TEMPLATES;
}

function unitWord(locale: string, n: number, [one, other]: [string, string]): string {
  return `${count(locale, n)} ${new Intl.PluralRules(locale).select(n) === 'one' ? one : other}`;
}

/**
 * Money from integer minor units, as said aloud: "83 cents", "1 dollar 20", "4 euros 5 cents"
 * ("4 euros 5" would be heard as 4.50), "4 dollars". A currency the table does not name is said
 * with Intl's own currency name ("1.20 Swiss francs").
 */
export function spokenMoney(locale: string, currency: string, minorUnits: number): string {
  const templates = TEMPLATES[locale] ?? TEMPLATES['en-US']!;
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

export interface SentenceOptions {
  /** Said in this locale when the event's locale has no templates (default en-US). */
  defaultLocale?: string;
}

/**
 * The sentence for a scan or a lane event, in the event's locale (or the default locale when it
 * is not supported: never silent). Pure and cheap: no I/O, usable without the service.
 */
export function sentenceFor(event: Scan | LaneEvent, options: SentenceOptions = {}): Sentence {
  const defaultLocale = options.defaultLocale !== undefined && isSupportedLocale(options.defaultLocale) ? options.defaultLocale : 'en-US';
  const supported = isSupportedLocale(event.locale);
  const locale = supported ? event.locale : defaultLocale;
  const t = TEMPLATES[locale]!;
  const kind: SpeechKind = 'type' in event ? event.type : 'scan';
  let parts: string[];
  if (!('type' in event)) {
    const what = t.items(event.quantity, event.product.spoken);
    const weight = event.pricing === 'kg' && event.weightGrams !== null ? spokenKilograms(locale, event.weightGrams) : null;
    parts = t.scan(what, weight, spokenMoney(locale, event.currency, event.priceMinor));
  } else {
    switch (event.type) {
      case 'not-recognised':
        parts = [t.notRecognised];
        break;
      case 'place-on-scale':
        parts = [t.placeOnScale(t.the(event.product.spoken))];
        break;
      case 'weight-mismatch':
        parts = [t.weightMismatch(t.the(event.product.spoken))];
        break;
      case 'removed':
        parts = t.removed(t.items(event.item.quantity, event.product.spoken), spokenMoney(locale, event.currency, event.basket.totalMinor));
        break;
      case 'cleared':
        parts = [t.cleared];
        break;
      case 'total':
        parts = t.total(spokenMoney(locale, event.currency, event.basket.totalMinor), itemsCount(locale, event.basket.count));
        break;
      case 'trouble':
        parts = [t.trouble[event.problem][event.state]];
        break;
    }
  }
  parts = parts.map((part) => toPlainText(part, 400)).filter((part) => part.length > 0);
  const text = toPlainText(parts.join(' '), MAX_SENTENCE_CHARS);
  return {
    text,
    parts,
    locale,
    ...(supported ? {} : { unsupportedLocale: event.locale }),
    kind,
    interruptible: kind !== 'total',
  };
}

const ITEM_WORDS: Record<string, [string, string]> = { 'en-US': ['item', 'items'], 'es-ES': ['artículo', 'artículos'], 'fr-FR': ['article', 'articles'] };

function itemsCount(locale: string, n: number): string {
  return unitWord(locale, n, ITEM_WORDS[locale] ?? ['item', 'items']);
}

/**
 * Sentences that never change, per locale, worth rendering before the first shopper arrives:
 * not-recognised, cleared, every trouble begin/end.
 */
export function fixedSentences(locale: string): string[] {
  const t = TEMPLATES[locale];
  if (!t) return [];
  return [t.notRecognised, t.cleared, ...Object.values(t.trouble).flatMap((s) => [s.begin, s.end])];
}

/** Sentences and scan openings that depend only on the product, for the catalog pre-render. */
export function productPhrases(locale: string, spoken: SpokenName): string[] {
  const t = TEMPLATES[locale];
  if (!t) return [];
  const the = t.the(spoken);
  return [t.placeOnScale(the), t.weightMismatch(the), t.scan(t.items(1, spoken), null, '')[0]!].map((p) => toPlainText(p, MAX_SENTENCE_CHARS));
}
