import { useEffect, useRef } from 'preact/hooks';
import { live, type FrameHeader } from './live.ts';

/** Distinct, high-contrast box colours, by label. */
const COLOURS = ['#ffd400', '#00e5ff', '#ff4fd8', '#7CFC00', '#ff8c00', '#ffffff'];
function colourOf(label: string): string {
  let h = 0;
  for (const c of label) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLOURS[h % COLOURS.length]!;
}

/**
 * One camera's canvas: each frame message is drawn with the boxes that came with it (the same
 * frame, paired by the console), newest first: a frame still decoding when a newer one arrives
 * is skipped, so what is painted never lags behind. The live page and the zone editor both show it.
 */
export function CameraCanvas({ camera, className, onPainted }: { camera: string; className: string; onPainted?: (h: FrameHeader) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  // The drawing loop lives as long as the camera does; it must call the latest onPainted, not the first render's.
  const painted = useRef(onPainted);
  painted.current = onPainted;
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
          painted.current?.(header);
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
  return <canvas ref={canvas} class={className} width={640} height={480} aria-hidden="true" />;
}
