import { useEffect, useRef, useState } from 'preact/hooks';
import { live, useLive, type CameraStatus, type DetectedObject, type FrameHeader } from '../live.ts';

/** Distinct, high-contrast box colours, by label. */
const COLOURS = ['#ffd400', '#00e5ff', '#ff4fd8', '#7CFC00', '#ff8c00', '#ffffff'];
function colourOf(label: string): string {
  let h = 0;
  for (const c of label) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLOURS[h % COLOURS.length]!;
}

function describe(objects: DetectedObject[] | null): string {
  if (objects === null) return 'no detections for this frame';
  if (objects.length === 0) return 'nothing detected';
  return objects.map((o) => `${o.label} ${Math.round(o.score * 100)} %`).join(', ');
}

/**
 * One camera's canvas: each frame message is drawn with the boxes that came with it (the same
 * frame, paired by the console), newest first: a frame still decoding when a newer one arrives
 * is skipped, so what is painted never lags behind.
 */
function CameraCanvas({ camera, large, onPainted }: { camera: string; large: boolean; onPainted: (h: FrameHeader) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    let pending: { header: FrameHeader; jpeg: Blob; receivedAt: number } | null = null;
    let drawing = false;
    const drawNext = async (): Promise<void> => {
      if (drawing || pending === null) return;
      const { header, jpeg, receivedAt } = pending;
      pending = null;
      drawing = true;
      try {
        const bitmap = await createImageBitmap(jpeg);
        const el = canvas.current;
        if (!el) return;
        if (el.width !== bitmap.width || el.height !== bitmap.height) {
          el.width = bitmap.width;
          el.height = bitmap.height;
        }
        const ctx = el.getContext('2d')!;
        ctx.drawImage(bitmap, 0, 0);
        bitmap.close();
        const line = Math.max(2, Math.round(el.width / 320));
        ctx.font = `${Math.max(12, Math.round(el.width / 40))}px sans-serif`;
        ctx.textBaseline = 'top';
        for (const o of header.objects ?? []) {
          const x = o.box.x * el.width;
          const y = o.box.y * el.height;
          const colour = colourOf(o.label);
          ctx.lineWidth = line;
          ctx.strokeStyle = colour;
          ctx.strokeRect(x, y, o.box.width * el.width, o.box.height * el.height);
          const text = `${o.label} ${Math.round(o.score * 100)}%`;
          const width = ctx.measureText(text).width + 8;
          const height = parseInt(ctx.font, 10) + 6;
          ctx.fillStyle = '#000';
          ctx.fillRect(x, Math.max(0, y - height), width, height);
          ctx.fillStyle = colour;
          ctx.fillText(text, x + 4, Math.max(0, y - height) + 3);
        }
        requestAnimationFrame(() => {
          live.recordPaint({
            camera,
            seq: header.seq,
            objects: header.objects,
            capturedAt: header.capturedAt,
            sentAt: header.sentAt,
            latencyMs: performance.now() - receivedAt,
          });
          onPainted(header);
        });
      } catch {
        // A frame the browser cannot decode is skipped; the next one will do.
      } finally {
        drawing = false;
        if (pending !== null) void drawNext();
      }
    };
    return live.watchFrames(camera, (header, jpeg, receivedAt) => {
      pending = { header, jpeg, receivedAt };
      void drawNext();
    });
  }, [camera]);
  return <canvas ref={canvas} class={large ? 'frame large' : 'frame'} width={640} height={480} aria-hidden="true" />;
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
        <CameraCanvas camera={camera} large={large} onPainted={onPainted} />
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
