import { useEffect, useState } from 'preact/hooks';
import { CameraCanvas } from '../frame.tsx';
import { useLive, type CameraStatus, type DetectedObject, type FrameHeader } from '../live.ts';

function describe(objects: DetectedObject[] | null): string {
  if (objects === null) return 'no detections for this frame';
  if (objects.length === 0) return 'nothing detected';
  return objects.map((o) => `${o.label} ${Math.round(o.score * 100)} %`).join(', ');
}

function statusText(status: CameraStatus | null | undefined): string {
  if (!status) return 'status unknown';
  return status.state === 'online'
    ? `online, ${status.fps.toFixed(1)} fps, ${status.width}×${status.height}`
    : `offline: ${status.reason ?? 'no reason given'}`;
}

function CameraTile({ camera, status, large }: { camera: string; status: CameraStatus | null | undefined; large: boolean }) {
  const [last, setLast] = useState<FrameHeader | null>(null);
  const [shown, setShown] = useState(0);
  // What a screen reader hears about the picture: the latest painted frame's objects, at most once a second.
  const onPainted = (header: FrameHeader) => {
    const now = Date.now();
    if (now - shown < 1000) return;
    setShown(now);
    setLast(header);
  };
  return (
    <figure class={large ? 'camera large' : 'camera'}>
      <div class="frame-box" role="img" aria-label={`${camera}: ${last ? describe(last.objects) : 'no frame yet'}`}>
        <CameraCanvas camera={camera} className={large ? 'frame large' : 'frame'} onPainted={onPainted} />
      </div>
      <figcaption>
        {large ? (
          <strong>{camera}</strong>
        ) : (
          <a href={`#/live/${encodeURIComponent(camera)}`}>
            <strong>{camera}</strong>
          </a>
        )}{' '}
        <span class={status?.state === 'online' ? 'ok' : 'bad'}>{statusText(status)}</span>
        {last && (
          <span>
            {' '}
            · frame {last.seq}
            {last.model ? ` · ${last.model}` : ''}
            {last.inferenceMs !== null ? ` · ${Math.round(last.inferenceMs)} ms` : ''}
          </span>
        )}
      </figcaption>
      {large && last && (
        <div class="table-box">
          <table>
            <caption>Objects in frame {last.seq}</caption>
            <thead>
              <tr>
                <th scope="col">Label</th>
                <th scope="col">Score</th>
                <th scope="col">Box (x, y, width, height)</th>
              </tr>
            </thead>
            <tbody>
              {(last.objects ?? []).map((o, i) => (
                <tr key={i}>
                  <td>{o.label}</td>
                  <td>{Math.round(o.score * 100)} %</td>
                  <td>{[o.box.x, o.box.y, o.box.width, o.box.height].map((v) => v.toFixed(2)).join(', ')}</td>
                </tr>
              ))}
              {(last.objects ?? []).length === 0 && (
                <tr>
                  <td colSpan={3}>{describe(last.objects)}</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </figure>
  );
}

export function LivePage({ camera }: { camera: string | null }) {
  const state = useLive();
  useEffect(() => {
    document.title = `${camera ?? 'Live'} · Sightline console`;
  }, [camera]);
  const cameras = [...state.cameras.keys()].sort();
  if (camera !== null) {
    return (
      <section>
        <h1 tabIndex={-1}>Camera {camera}</h1>
        <p>
          <a href="#/live">All cameras</a>
        </p>
        <CameraTile camera={camera} status={state.cameras.get(camera)} large />
      </section>
    );
  }
  return (
    <section>
      <h1 tabIndex={-1}>Live</h1>
      {cameras.length === 0 ? <p>No camera has reported yet.</p> : null}
      <div class="grid">
        {cameras.map((c) => (
          <CameraTile key={c} camera={c} status={state.cameras.get(c)} large={false} />
        ))}
      </div>
    </section>
  );
}
