import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { useLive, type ModelRef } from '../live.ts';

interface ServiceRow {
  name: string;
  availability: 'online' | 'offline' | null;
  ready: boolean;
  reason: string | null;
  metrics: Record<string, number> | null;
}

interface Models {
  current: ModelRef | null;
  available: string[];
}

function keyFigures(metrics: Record<string, number> | null): string {
  if (metrics === null) return 'no metrics';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(metrics)) {
    if (name === 'process_resident_memory_bytes') parts.push(`${Math.round(value / 1048576)} MiB`);
    else if (name === 'process_cpu_seconds_total') parts.push(`CPU ${value.toFixed(1)} s`);
    else
      parts.push(
        `${name
          .replace(/^sightline_[a-z]+_/, '')
          .replace(/_total$/, '')
          .replaceAll('_', ' ')} ${Math.round(value)}`,
      );
  }
  return parts.join(', ');
}

const modelName = (model: ModelRef | null) => (model === null ? 'none' : `${model.id} ${model.version}`);

export function ServicesPage({ canChange }: { canChange: boolean }) {
  const state = useLive();
  const [services, setServices] = useState<ServiceRow[] | null>(null);
  const [models, setModels] = useState<Models | null>(null);
  const [choice, setChoice] = useState('');
  const [result, setResult] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () => {
    api.get<{ services: ServiceRow[] }>('/api/services').then(
      (body) => setServices(body.services),
      () => setServices(null),
    );
    api.get<Models>('/api/models').then(
      (body) => {
        setModels(body);
        setChoice((c) => c || body.current?.id || '');
      },
      (err: Error) => setResult(`Cannot list the models: ${err.message}`),
    );
  };
  useEffect(() => {
    document.title = 'Services and models · Sightline console';
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  const switchModel = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setResult(`Switching to ${choice}…`);
    try {
      const answer = await api.post<{ current: ModelRef }>('/api/models/current', { model: choice });
      setResult(`Now running ${answer.current.id} ${answer.current.version}.`);
      load();
    } catch (err) {
      setResult(`Not switched: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1 tabIndex={-1}>Services and models</h1>
      <h2>Services</h2>
      {services === null ? (
        <p>Loading…</p>
      ) : (
        <div class="table-box">
          <table>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">On the bus</th>
                <th scope="col">Ready</th>
                <th scope="col">Figures</th>
              </tr>
            </thead>
            <tbody>
              {services.map((s) => (
                <tr key={s.name}>
                  <th scope="row">{s.name}</th>
                  <td>{state.services[s.name] ?? s.availability ?? 'not on the bus'}</td>
                  <td class={s.ready ? 'ok' : 'bad'}>{s.ready ? 'ready' : `not ready: ${s.reason ?? 'unknown'}`}</td>
                  <td>{keyFigures(s.metrics)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Model</h2>
      <p>
        Running: <strong>{modelName(state.model?.model ?? models?.current ?? null)}</strong>
        {state.model?.error ? ` (last switch refused: ${state.model.error})` : ''}
      </p>
      {canChange && models && (
        <form onSubmit={switchModel} class="inline">
          <label for="model">Model</label>
          <select id="model" value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
            {models.available.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy || choice === ''}>
            Switch model
          </button>
        </form>
      )}
      <p class="result" role="status">
        {result}
      </p>
    </section>
  );
}
