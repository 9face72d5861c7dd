import { useEffect, useState } from 'preact/hooks';
import { api, formatMoney } from '../api.ts';
import { useLive } from '../live.ts';

interface LaneSummary {
  id: string;
  camera: string;
  locale: string;
  locales: string[];
  state: string;
  trouble: string[];
  basket: { id: string; status: string; count: number; totalMinor: number; currency: string };
}

export function LanesPage() {
  const [lanes, setLanes] = useState<LaneSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    document.title = 'Lanes · Sightline console';
    api.get<{ lanes: LaneSummary[] }>('/api/lanes').then(
      (body) => setLanes(body.lanes),
      (err: Error) => setError(err.message),
    );
  }, []);
  return (
    <section>
      <h1 tabIndex={-1}>Lanes</h1>
      {error && <p role="alert">Cannot list the lanes: {error}</p>}
      {lanes && (
        <div class="table-box">
          <table>
            <thead>
              <tr>
                <th scope="col">Lane</th>
                <th scope="col">Camera</th>
                <th scope="col">State</th>
                <th scope="col">Items</th>
                <th scope="col">Total</th>
                <th scope="col">Trouble</th>
              </tr>
            </thead>
            <tbody>
              {lanes.map((lane) => (
                <tr key={lane.id}>
                  <th scope="row">
                    <a href={`#/lanes/${encodeURIComponent(lane.id)}`}>{lane.id}</a>
                  </th>
                  <td>{lane.camera}</td>
                  <td>{lane.state}</td>
                  <td>{lane.basket.count}</td>
                  <td>{formatMoney(lane.basket.totalMinor, lane.basket.currency, lane.locale)}</td>
                  <td>{lane.trouble.length === 0 ? 'none' : lane.trouble.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The lane's controls, with the keys of the lane keypad's layout (numbers as on a numeric keypad). */
const CONTROLS: Array<{ command: string; label: string; key: string }> = [
  { command: 'repeat', label: 'Repeat', key: '5' },
  { command: 'toggle-pause', label: 'Pause or resume', key: '0' },
  { command: 'stop', label: 'Stop speaking', key: '.' },
  { command: 'volume-down', label: 'Volume down', key: '-' },
  { command: 'volume-up', label: 'Volume up', key: '+' },
  { command: 'help', label: 'Help', key: '1' },
  { command: 'basket', label: 'Read the basket', key: '3' },
  { command: 'more-time', label: 'More time', key: '2' },
  { command: 'remove-last', label: 'Remove last item', key: '9' },
  { command: 'language', label: 'Next language', key: '7' },
  { command: 'finish', label: 'Finish and hear the receipt', key: '*' },
];

/**
 * The lane screen: what the shopper's display shows, in large type and high contrast. What the
 * lane says is also put in a live region, so a screen reader on this screen announces each scan.
 */
export function LaneScreen({ lane, canChange }: { lane: string; canChange: boolean }) {
  const state = useLive();
  const basket = state.baskets.get(lane);
  const said = state.said.get(lane);
  const [result, setResult] = useState<string>('');
  const [sentAt, setSentAt] = useState(Date.now());
  // What came of the last control, as the lane answered it on the bus (any control's answer, also the keypad's).
  const outcome = state.controlResults.get(lane);
  useEffect(() => {
    document.title = `Lane ${lane} · Sightline console`;
  }, [lane]);
  const send = async (command: string) => {
    setSentAt(Date.now() - 1000);
    try {
      await api.post(`/api/lanes/${encodeURIComponent(lane)}/control`, { command });
      setResult(`${command}: sent`);
    } catch (err) {
      setResult(`${command}: ${(err as Error).message}`);
    }
  };
  useEffect(() => {
    if (!canChange) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const target = event.target as HTMLElement;
      if (target.closest('input, textarea, select, audio')) return;
      const control = CONTROLS.find((c) => c.key === event.key);
      if (!control) return;
      event.preventDefault();
      void send(control.command);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [lane, canChange]);
  const locale = said?.locale ?? 'en-US';
  return (
    <section class="lane-screen" lang={locale}>
      <h1 tabIndex={-1}>Lane {lane}</h1>
      <div class="said" role="status" aria-live="polite" aria-atomic="true">
        {said ? said.text : 'Nothing said yet.'}
      </div>
      {said && (
        <p>
          <audio controls preload="none" src={`/api/lanes/${encodeURIComponent(lane)}/audio.wav?id=${encodeURIComponent(said.id)}`}>
            <a href={`/api/lanes/${encodeURIComponent(lane)}/audio.wav`}>What was last said (WAV)</a>
          </audio>
        </p>
      )}
      <h2>Basket</h2>
      {!basket || basket.items.length === 0 ? (
        <p>The basket is empty.</p>
      ) : (
        <div class="table-box">
          <table class="basket">
            <thead>
              <tr>
                <th scope="col">Item</th>
                <th scope="col">Quantity</th>
                <th scope="col">Price</th>
              </tr>
            </thead>
            <tbody>
              {basket.items.map((item) => (
                <tr key={item.id}>
                  <th scope="row">{item.name}</th>
                  <td>{item.weightGrams !== null ? `${(item.weightGrams / 1000).toFixed(3)} kg` : item.quantity}</td>
                  <td>{formatMoney(item.priceMinor, basket.currency, locale)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="total">
        Total: <strong>{basket ? formatMoney(basket.totalMinor, basket.currency, locale) : formatMoney(0, 'USD', locale)}</strong>
        {basket && basket.status !== 'open' ? ` (${basket.status})` : ''}
      </p>
      {canChange && (
        <>
          <h2>Controls</h2>
          <ul class="controls">
            {CONTROLS.map((c) => (
              <li key={c.command}>
                <button type="button" onClick={() => void send(c.command)} aria-keyshortcuts={c.key}>
                  {c.label} <kbd>{c.key}</kbd>
                </button>
              </li>
            ))}
          </ul>
          <p class="result" role="status">
            {outcome && outcome.at >= sentAt ? `${outcome.command ?? 'control'}: ${outcome.outcome}${outcome.reason ? ` (${outcome.reason})` : ''}` : result}
          </p>
        </>
      )}
    </section>
  );
}
