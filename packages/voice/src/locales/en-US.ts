import { count, plural, type LocaleTemplates } from '../templates.ts';

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

export const enUS: LocaleTemplates = {
  items: (n, name) => (n === 1 ? `${name.article ?? englishArticle(name.one)} ${name.one}` : `${count('en-US', n)} ${plural('en-US', n, name, englishPlural)}`),
  the: (name) => `the ${name.one}`,
  scan: (what, weight, price) => [`You scanned ${what},`, ...(weight ? [`${weight},`] : []), `${price}.`],
  notRecognised: 'Item not recognised, please try again.',
  placeOnScale: (the) => `Please place ${the} on the scale.`,
  weightMismatch: (the) => `The weight does not match ${the}. Please check the items on the scale.`,
  removed: (what, total) => [`Removed ${what}.`, `Your new total is ${total}.`],
  cleared: 'Your basket is now empty.',
  total: (total, items) => [`Your total is ${total}`, `for ${items}.`],
  line: (what, weight, price) => `${what}, ${weight ? `${weight}, ` : ''}${price}.`,
  moreLines: (n) => (n === 1 ? 'And 1 more item.' : `And ${count('en-US', n)} more items.`),
  receiptStart: 'Your receipt.',
  receiptEnd: 'Thank you for shopping with us.',
  basketStart: (items) => `Your basket has ${items}.`,
  basketEmpty: 'Your basket is empty.',
  basketTotal: (total) => `Your total so far is ${total}.`,
  idleWarning: (remaining, key) => [
    'Are you still there?',
    `Your session ends in ${remaining}.`,
    key ? `Press ${key} for more time.` : 'Ask for more time to continue.',
  ],
  sessionEnded: 'Your session has ended because there was no activity. Your basket was cleared.',
  trouble: {
    'camera-offline': { begin: 'The camera is not working. Please ask for assistance.', end: 'The camera is working again.' },
    'inference-offline': { begin: 'Item recognition is not working. Please ask for assistance.', end: 'Item recognition is working again.' },
    'scale-offline': { begin: 'The scale is not working. Please ask for assistance.', end: 'The scale is working again.' },
    'speech-unavailable': { begin: 'Speech is unavailable. Please ask for assistance.', end: 'Speech is available again.' },
  },
  control: {
    repeated: 'Repeating.',
    paused: (key) => (key ? `Paused. Press ${key} to continue.` : 'Paused.'),
    resumed: 'Continuing.',
    stopped: 'Stopped.',
    volume: (level, steps, headset) => `${headset ? 'Headset volume' : 'Volume'} ${level} of ${steps}.`,
    helpKey: (key, command) => `Press ${key} to ${command}.`,
    helpNoKeypad: (commands) => `You can ask to ${commands}.`,
    helpStart: 'Keypad help.',
    removed: 'Removed.',
    finished: 'Finished.',
    moreTime: (duration) => `You have ${duration} more.`,
    language: 'English.',
    refused: {
      'nothing-to-repeat': 'There is nothing to repeat yet.',
      'not-paused': 'Nothing is paused.',
      'volume-at-max': 'The volume is at its highest.',
      'volume-at-min': 'The volume is at its lowest.',
      'basket-empty': 'Your basket is empty.',
      'basket-finished': 'This basket is already finished. Scan an item to start a new one.',
      'no-open-basket': 'There is no open basket.',
      'one-language': 'This lane speaks only English.',
      'unknown-lane': 'This lane is not set up. Please ask for assistance.',
      invalid: 'That command was not understood.',
    },
    commands: {
      repeat: 'repeat',
      pause: 'pause',
      resume: 'continue',
      'toggle-pause': 'pause or continue',
      stop: 'stop speaking',
      'volume-up': 'turn the volume up',
      'volume-down': 'turn the volume down',
      help: 'hear this help',
      basket: 'hear your basket',
      'remove-last': 'remove the last item',
      finish: 'finish and hear your receipt',
      'more-time': 'get more time',
      language: 'change the language',
    },
  },
  money: { join: (major, minor) => `${major} ${minor}` },
  currencies: {
    USD: { major: ['dollar', 'dollars'], minor: ['cent', 'cents'] },
    EUR: { major: ['euro', 'euros'], minor: ['cent', 'cents'] },
    GBP: { major: ['pound', 'pounds'], minor: ['penny', 'pence'] },
    CAD: { major: ['dollar', 'dollars'], minor: ['cent', 'cents'] },
  },
  units: { item: ['item', 'items'], minute: ['minute', 'minutes'], second: ['second', 'seconds'] },
  and: 'and',
};
