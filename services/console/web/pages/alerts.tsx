import { useEffect, useState } from 'preact/hooks';
import { api, formatTime } from '../api.ts';
import { useLive, type Alert } from '../live.ts';

const STATES = ['active', 'acknowledged', 'resolved'];
const TYPES = ['person-in-zone', 'unknown-item', 'weight-mismatch', 'camera-offline', 'service-offline', 'low-confidence-scan', 'model-drift'];

export function AlertsPage({ canChange }: { canChange: boolean }) {
  const state = useLive();
  const [filter, setFilter] = useState<{ state: string; type: string }>({ state: '', type: '' });
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState('');
  useEffect(() => {
    document.title = 'Alerts · Sightline console';
  }, []);
  useEffect(() => {
    const query = new URLSearchParams();
    if (filter.state) query.set('state', filter.state);
    if (filter.type) query.set('type', filter.type);
    api.get<{ alerts: Alert[] }>(`/api/alerts${query.size > 0 ? `?${query}` : ''}`).then(
      (body) => {
        setAlerts(body.alerts);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  }, [filter, state.alertsVersion]);
  const act = async (alert: Alert, action: 'acknowledge' | 'resolve') => {
    try {
      await api.post(`/api/alerts/${encodeURIComponent(alert.id)}/${action}`);
      setResult(`${alert.type} ${action === 'acknowledge' ? 'acknowledged' : 'resolved'}`);
      setFilter({ ...filter });
    } catch (err) {
      setResult(`Could not ${action}: ${(err as Error).message}`);
    }
  };
  return (
    <section>
      <h1 tabIndex={-1}>Alerts</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <p>
          <label for="alert-state">State</label>
          <select id="alert-state" value={filter.state} onChange={(e) => setFilter({ ...filter, state: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </p>
        <p>
          <label for="alert-type">Type</label>
          <select id="alert-type" value={filter.type} onChange={(e) => setFilter({ ...filter, type: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </p>
      </form>
      <p class="result" role="status">
        {result}
      </p>
      {error && <p role="alert">Cannot list the alerts: {error}</p>}
      {alerts && alerts.length === 0 && <p>No alerts.</p>}
      {alerts && alerts.length > 0 && (
        <div class="table-box">
          <table class="alerts">
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Alert</th>
                <th scope="col">Where</th>
                <th scope="col">Seen</th>
                <th scope="col">State</th>
                <th scope="col">Snapshot</th>
                {canChange && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {alerts.map((alert) => (
                <tr key={alert.id} class={`severity-${alert.severity}`}>
                  <td>{alert.severity}</td>
                  <th scope="row">
                    {alert.type}
                    <br />
                    <span class="message">{alert.message}</span>
                  </th>
                  <td>{[alert.camera, alert.lane, alert.service].filter(Boolean).join(', ') || '-'}</td>
                  <td>
                    {formatTime(alert.firstSeen)} to {formatTime(alert.lastSeen)} ({alert.count}×)
                  </td>
                  <td>{alert.state}</td>
                  <td>
                    {alert.snapshot ? (
                      <img
                        class="snapshot"
                        src={`/api/snapshots/${encodeURIComponent(alert.snapshot.camera)}/${alert.snapshot.seq}`}
                        alt={`Frame ${alert.snapshot.seq} of ${alert.snapshot.camera}, at ${formatTime(alert.snapshot.capturedAt)}`}
                        width={160}
                        height={120}
                      />
                    ) : (
                      'none'
                    )}
                  </td>
                  {canChange && (
                    <td class="actions">
                      {alert.state === 'active' && (
                        <button type="button" onClick={() => void act(alert, 'acknowledge')}>
                          Acknowledge
                          <span class="visually-hidden">
                            {' '}
                            {alert.type} {alert.id}
                          </span>
                        </button>
                      )}
                      {alert.state !== 'resolved' && (
                        <button type="button" onClick={() => void act(alert, 'resolve')}>
                          Resolve
                          <span class="visually-hidden">
                            {' '}
                            {alert.type} {alert.id}
                          </span>
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
