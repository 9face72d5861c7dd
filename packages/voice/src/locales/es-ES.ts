import { count, plural, type LocaleTemplates } from '../templates.ts';

function romancePlural(word: string): string {
  if (/[aeiouéáó]$/i.test(word)) return `${word}s`;
  if (/z$/i.test(word)) return `${word.slice(0, -1)}ces`;
  return `${word}es`;
}

const spanishFeminine = (word: string) => /(?:a|ión|dad|tad|tud|umbre)$/i.test(word.split(' ')[0] ?? word);

export const esES: LocaleTemplates = {
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
  line: (what, weight, price) => `${what}, ${weight ? `${weight}, ` : ''}${price}.`,
  moreLines: (n) => (n === 1 ? 'Y 1 artículo más.' : `Y ${count('es-ES', n)} artículos más.`),
  receiptStart: 'Su recibo.',
  receiptEnd: 'Gracias por su compra.',
  basketStart: (items) => `Su cesta tiene ${items}.`,
  basketEmpty: 'Su cesta está vacía.',
  basketTotal: (total) => `Su total hasta ahora es ${total}.`,
  idleWarning: (remaining, key) => [
    '¿Sigue ahí?',
    `Su sesión termina en ${remaining}.`,
    key ? `Pulse ${key} para tener más tiempo.` : 'Pida más tiempo para continuar.',
  ],
  sessionEnded: 'Su sesión ha terminado por inactividad. Se ha vaciado su cesta.',
  trouble: {
    'camera-offline': { begin: 'La cámara no funciona. Pida ayuda, por favor.', end: 'La cámara vuelve a funcionar.' },
    'inference-offline': {
      begin: 'El reconocimiento de artículos no funciona. Pida ayuda, por favor.',
      end: 'El reconocimiento de artículos vuelve a funcionar.',
    },
    'scale-offline': { begin: 'La báscula no funciona. Pida ayuda, por favor.', end: 'La báscula vuelve a funcionar.' },
    'speech-unavailable': { begin: 'La voz no está disponible. Pida ayuda, por favor.', end: 'La voz vuelve a estar disponible.' },
  },
  control: {
    repeated: 'Repitiendo.',
    paused: (key) => (key ? `En pausa. Pulse ${key} para continuar.` : 'En pausa.'),
    resumed: 'Continuando.',
    stopped: 'Detenido.',
    volume: (level, steps, headset) => `${headset ? 'Volumen de los auriculares' : 'Volumen'} ${level} de ${steps}.`,
    helpKey: (key, command) => `Pulse ${key} para ${command}.`,
    helpNoKeypad: (commands) => `Puede pedir ${commands}.`,
    helpStart: 'Ayuda del teclado.',
    removed: 'Quitado.',
    finished: 'Terminado.',
    moreTime: (duration) => `Tiene ${duration} más.`,
    language: 'Español.',
    refused: {
      'nothing-to-repeat': 'Todavía no hay nada que repetir.',
      'not-paused': 'No hay nada en pausa.',
      'volume-at-max': 'El volumen está al máximo.',
      'volume-at-min': 'El volumen está al mínimo.',
      'basket-empty': 'Su cesta está vacía.',
      'basket-finished': 'Esta cesta ya está terminada. Escanee un artículo para empezar otra.',
      'no-open-basket': 'No hay ninguna cesta abierta.',
      'one-language': 'Esta caja solo habla español.',
      'unknown-lane': 'Esta caja no está configurada. Pida ayuda, por favor.',
      invalid: 'No se ha entendido la orden.',
    },
    commands: {
      repeat: 'repetir',
      pause: 'hacer una pausa',
      resume: 'continuar',
      'toggle-pause': 'hacer una pausa o continuar',
      stop: 'dejar de hablar',
      'volume-up': 'subir el volumen',
      'volume-down': 'bajar el volumen',
      help: 'oír esta ayuda',
      basket: 'oír su cesta',
      'remove-last': 'quitar el último artículo',
      finish: 'terminar y oír su recibo',
      'more-time': 'tener más tiempo',
      language: 'cambiar de idioma',
    },
  },
  money: { join: (major, minor) => `${major} con ${minor}` },
  currencies: {
    EUR: { major: ['euro', 'euros'], minor: ['céntimo', 'céntimos'] },
    USD: { major: ['dólar', 'dólares'], minor: ['centavo', 'centavos'] },
    GBP: { major: ['libra', 'libras'], minor: ['penique', 'peniques'] },
  },
  units: { item: ['artículo', 'artículos'], minute: ['minuto', 'minutos'], second: ['segundo', 'segundos'] },
  and: 'y',
};
