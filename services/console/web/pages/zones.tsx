import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { CameraCanvas } from '../frame.tsx';
import { useLive, type CameraStatus } from '../live.ts';

/** A point on the frame, 0-1 from its top-left corner, as the services keep zones. */
interface Point {
  x: number;
  y: number;
}

/** What GET /api/zones lists (services/console/src/routes/zones.ts). */
interface Zone {
  kind: 'lane' | 'rule';
  id: string;
  camera: string;
  zone: Point[];
}
interface ZoneList {
  zones: Zone[];
  unavailable: Array<{ service: string; message: string }>;
}

/** What an arrow key moves a point by: 1 % of the frame. */
const STEP = 0.01;
/** Points are kept to 0.01 % of the frame: finer than any camera's pixel, and short in the file. */
const round = (v: number) => Math.round(v * 10_000) / 10_000;
const clamp = (v: number) => Math.min(1, Math.max(0, v));
const percent = (v: number) => String(round(v * 100));

const keyOf = (zone: Pick<Zone, 'kind' | 'id'>) => `${zone.kind}/${zone.id}`;
const zoneName = (zone: Pick<Zone, 'kind' | 'id'>) => (zone.kind === 'lane' ? `scan zone of lane ${zone.id}` : `restricted zone of rule ${zone.id}`);
const owner = (zone: Pick<Zone, 'kind'>) => (zone.kind === 'lane' ? 'checkout' : 'alert');
const samePoints = (a: Point[], b: Point[]) => a.length === b.length && a.every((p, i) => p.x === b[i]!.x && p.y === b[i]!.y);

function cameraText(camera: string, status: CameraStatus | null | undefined): string {
  if (!status) return `camera ${camera}: no word from it yet`;
  return status.state === 'online'
    ? `camera ${camera}: online, ${status.width}×${status.height}`
    : `camera ${camera}: offline (${status.reason ?? 'no reason given'})`;
}

/** Where a new point goes after point `after` (or at the end): halfway along the edge to the next one, so the shape stays as it was. */
function newPoint(points: Point[], after: number): Point {
  if (points.length === 0) return { x: 0.5, y: 0.5 };
  const a = points[after]!;
  if (points.length === 1) return { x: round(a.x <= 0.9 ? a.x + 0.1 : a.x - 0.1), y: a.y };
  const b = points[(after + 1) % points.length]!;
  return { x: round((a.x + b.x) / 2), y: round((a.y + b.y) / 2) };
}

/**
 * The frame and the zone over it. By pointer: a click on the frame adds a point after the selected
 * one (drawing point after point draws the outline in order), dragging a point moves it. By
 * keyboard: each point is a button in the tab order; focused, it is selected, the arrow keys move
 * it by 1 % and Delete removes it. Sizes are in CSS pixels (the overlay's viewBox follows its box),
 * so the handles keep a 24 px target at any width.
 */
function ZoneEditor(props: {
  zone: Zone;
  points: Point[];
  selected: number | null;
  canChange: boolean;
  onChange: (points: Point[], selected: number | null) => void;
  onSelect: (index: number | null) => void;
}) {
  const { zone, points, selected, canChange, onChange, onSelect } = props;
  const box = useRef<HTMLDivElement>(null);
  const svg = useRef<SVGSVGElement>(null);
  const [size, setSize] = useState({ width: 640, height: 480 });
  const dragging = useRef<number | null>(null);
  // The point to focus once drawn (a point added by a click, the one left selected after a Delete).
  const focusNext = useRef<number | null>(null);

  useLayoutEffect(() => {
    const el = box.current!;
    const measure = () => setSize({ width: el.clientWidth || 640, height: el.clientHeight || 480 });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  // Right after the DOM changes (not after the next paint): a key pressed at once goes to the new point.
  useLayoutEffect(() => {
    if (focusNext.current === null) return;
    svg.current?.querySelector<SVGElement>(`[data-point="${focusNext.current}"]`)?.focus();
    focusNext.current = null;
  });

  const at = (event: MouseEvent): Point => {
    const rect = svg.current!.getBoundingClientRect();
    return { x: round(clamp((event.clientX - rect.left) / rect.width)), y: round(clamp((event.clientY - rect.top) / rect.height)) };
  };
  const change = (next: Point[], select: number | null, focus: boolean) => {
    if (focus) focusNext.current = select;
    onChange(next, select);
  };
  const add = (point: Point) => {
    const index = selected === null ? points.length : selected + 1;
    change([...points.slice(0, index), point, ...points.slice(index)], index, true);
  };
  const moveTo = (index: number, point: Point) => change(points.with(index, point), index, false);
  const remove = (index: number) => {
    const next = points.filter((_, i) => i !== index);
    const left = next.length === 0 ? null : Math.max(0, index - 1);
    change(next, left, true);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const index = Number((event.target as Element).getAttribute('data-point') ?? NaN);
    if (!canChange || !Number.isInteger(index) || !points[index]) return;
    const point = points[index];
    const by: Record<string, [number, number]> = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, -STEP], ArrowDown: [0, STEP] };
    const step = by[event.key];
    if (step) {
      event.preventDefault();
      moveTo(index, { x: round(clamp(point.x + step[0])), y: round(clamp(point.y + step[1])) });
    } else if (event.key === 'Delete' || event.key === 'Backspace') {
      event.preventDefault();
      remove(index);
    } else if (event.key === 'Escape') {
      onSelect(null);
      (event.target as SVGElement).blur();
    }
  };

  const { width, height } = size;
  const xy = (p: Point) => [clamp(p.x) * width, clamp(p.y) * height] as const;
  const outline = points.map((p) => xy(p).join(',')).join(' ');
  const described = points.map((p, i) => `point ${i} at ${percent(p.x)} %, ${percent(p.y)} %`).join('; ');
  return (
    <div class="zone-frame" ref={box}>
      <CameraCanvas camera={zone.camera} className="frame" />
      <svg
        ref={svg}
        class={canChange ? 'zone-overlay editable' : 'zone-overlay'}
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        {...(canChange
          ? { role: 'group', 'aria-label': `The ${zoneName(zone)} on ${zone.camera}'s frame`, 'aria-describedby': 'zone-help' }
          : {
              role: 'img',
              'aria-label': `The ${zoneName(zone)} on ${zone.camera}'s frame: ${points.length} points${points.length > 0 ? `, ${described}` : ''}`,
            })}
        onKeyDown={onKeyDown}
      >
        {canChange && (
          <rect
            class="zone-surface"
            width={width}
            height={height}
            onClick={(event) => {
              if (event.button === 0) add(at(event));
            }}
          />
        )}
        {points.length > 1 && (
          <g class="zone-shape" aria-hidden="true">
            <polygon class="under" points={outline} />
            <polygon class="over" points={outline} />
          </g>
        )}
        {points.map((p, i) => {
          const [cx, cy] = xy(p);
          // The number beside its point, kept inside the frame at its edges.
          const label = (
            <text
              class="zone-number"
              x={cx > width - 32 ? cx - 16 : cx + 16}
              y={cy < 24 ? cy + 20 : cy - 12}
              text-anchor={cx > width - 32 ? 'end' : 'start'}
              aria-hidden="true"
            >
              {i}
            </text>
          );
          if (!canChange) {
            return (
              <g key={i}>
                <circle class="zone-point" cx={cx} cy={cy} r={8} />
                {label}
              </g>
            );
          }
          return (
            <g key={i}>
              <circle
                class={i === selected ? 'zone-point selected' : 'zone-point'}
                data-point={i}
                cx={cx}
                cy={cy}
                r={12}
                // Lower case: on an SVG element Preact sets the attribute as written, and SVG attributes are case-sensitive.
                tabindex={0}
                role="button"
                aria-pressed={i === selected}
                aria-label={`Point ${i}: ${percent(p.x)} % from the left, ${percent(p.y)} % from the top`}
                onFocus={() => onSelect(i)}
                onPointerDown={(event) => {
                  if (event.button !== 0) return;
                  // No text selection or native drag; focus as a click would have.
                  event.preventDefault();
                  event.currentTarget.setPointerCapture(event.pointerId);
                  dragging.current = i;
                  event.currentTarget.focus();
                  onSelect(i);
                }}
                onPointerMove={(event) => {
                  if (dragging.current === i) moveTo(i, at(event));
                }}
                onPointerUp={() => (dragging.current = null)}
                onPointerCancel={() => (dragging.current = null)}
              />
              {label}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/** A coordinate in percent: what is being typed stays as typed; a point moved elsewhere shows its new place. */
function CoordinateInput(props: { label: string; value: number; onCommit: (value: number) => void; onFocus: () => void }) {
  const { label, value, onCommit, onFocus } = props;
  const [text, setText] = useState(percent(value));
  // Before the next paint, so a point moved by a key or a drag never shows its old place in the table.
  useLayoutEffect(() => {
    const typed = Number(text);
    if (text.trim() === '' || !Number.isFinite(typed) || Math.abs(typed / 100 - value) > 0.00005) setText(percent(value));
  }, [value]);
  return (
    <input
      type="number"
      inputMode="decimal"
      min={0}
      max={100}
      step={1}
      value={text}
      aria-label={label}
      onFocus={onFocus}
      onInput={(event) => {
        const typed = event.currentTarget.value;
        setText(typed);
        // Out of 0-100 is kept too: the service says why it cannot be (the one rule for zones).
        if (typed.trim() !== '' && Number.isFinite(Number(typed))) onCommit(round(Number(typed) / 100));
      }}
      onBlur={() => setText(percent(value))}
    />
  );
}

export function ZonesPage({ canChange }: { canChange: boolean }) {
  const state = useLive();
  const [list, setList] = useState<ZoneList | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [chosen, setChosen] = useState('');
  const [points, setPoints] = useState<Point[]>([]);
  const [saved, setSaved] = useState<Point[]>([]);
  const [selected, setSelected] = useState<number | null>(null);
  const [refusal, setRefusal] = useState('');
  const [result, setResult] = useState('');
  const [busy, setBusy] = useState(false);
  const zone = list?.zones.find((z) => keyOf(z) === chosen) ?? null;

  const show = (next: Zone | null) => {
    setChosen(next === null ? '' : keyOf(next));
    setPoints(next?.zone ?? []);
    setSaved(next?.zone ?? []);
    setSelected(null);
  };
  /** The zones as the services have them now; null, or why they cannot be listed. */
  const load = async (keep: string): Promise<string | null> => {
    try {
      const body = await api.get<ZoneList>('/api/zones');
      setList(body);
      setListError(null);
      show(body.zones.find((z) => keyOf(z) === keep) ?? body.zones[0] ?? null);
      return null;
    } catch (err) {
      setListError((err as Error).message);
      return (err as Error).message;
    }
  };
  useEffect(() => {
    document.title = 'Zones · Sightline console';
    void load('');
  }, []);

  const edit = (next: Point[], select: number | null) => {
    setPoints(next);
    setSelected(select);
  };
  const addPoint = () => {
    const after = selected ?? points.length - 1;
    const index = after + 1;
    edit([...points.slice(0, index), newPoint(points, after), ...points.slice(index)], index);
  };
  const removePoint = () => {
    if (selected === null) return;
    edit(
      points.filter((_, i) => i !== selected),
      points.length > 1 ? Math.max(0, selected - 1) : null,
    );
  };
  const save = async () => {
    if (zone === null) return;
    setBusy(true);
    setRefusal('');
    setResult('Saving…');
    try {
      const answer = await api.put<Zone>(`/api/zones/${zone.kind}/${encodeURIComponent(zone.id)}`, { zone: points.map((p) => [p.x, p.y]) });
      setList((current) => current && { ...current, zones: current.zones.map((z) => (keyOf(z) === keyOf(answer) ? answer : z)) });
      setPoints(answer.zone);
      setSaved(answer.zone);
      setResult(`Saved: the ${zoneName(zone)} has ${answer.zone.length} points, in use by ${owner(zone)} from now on.`);
    } catch (err) {
      setResult('');
      setRefusal(`Not saved: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const reset = async () => {
    setRefusal('');
    setResult('');
    const problem = await load(chosen);
    if (problem === null) setResult('The saved zone is shown again.');
    else setRefusal(`Cannot load the saved zone: ${problem}`);
  };

  const dirty = !samePoints(points, saved);
  return (
    <section class="zones">
      <h1 tabIndex={-1}>Zones</h1>
      <p>
        A lane scans what is inside its <strong>scan zone</strong>; a person inside a <strong>restricted zone</strong> raises an alert. Each zone is drawn on
        its camera's frame.
      </p>
      {listError && <p class="error">Cannot list the zones: {listError}</p>}
      {list?.unavailable.map((u) => (
        <p key={u.service} class="error">
          Some zones are missing: {u.message}
        </p>
      ))}
      {list && list.zones.length === 0 && <p>There is no zone to edit: no lane, and no person-in-zone rule.</p>}
      {list && list.zones.length > 0 && (
        <p class="inline">
          <label for="zone-pick">Zone</label>
          <select
            id="zone-pick"
            value={chosen}
            onChange={(event) => {
              setRefusal('');
              setResult('');
              show(list.zones.find((z) => keyOf(z) === event.currentTarget.value) ?? null);
            }}
          >
            {list.zones.map((z) => (
              <option key={keyOf(z)} value={keyOf(z)}>
                {z.kind === 'lane' ? 'Scan zone' : 'Restricted zone'} of {z.kind} {z.id} (camera {z.camera})
              </option>
            ))}
          </select>
        </p>
      )}
      {zone && (
        <>
          <div class="zone-workspace">
            <div class="zone-view">
              {canChange ? (
                <p id="zone-help" class="help">
                  Click on the frame to add a point after the selected one, drag a point to move it. With the keyboard: Tab to a point, the arrow keys move it
                  by 1 % of the frame, Delete removes it. Or type each point's place in the table. Points are numbered from 0, as the services number them.
                </p>
              ) : (
                <p class="help">You can look at the zones; an operator account can change them.</p>
              )}
              <figure class="zone-editor">
                <ZoneEditor zone={zone} points={points} selected={selected} canChange={canChange} onChange={edit} onSelect={setSelected} />
                <figcaption>
                  The {zoneName(zone)}, on {cameraText(zone.camera, state.cameras.get(zone.camera))}.
                </figcaption>
              </figure>
            </div>
            <div class="zone-points">
              <div class="table-box">
                <table class="points">
                  <caption>Points of the {zoneName(zone)}, in % of the frame</caption>
                  <thead>
                    <tr>
                      <th scope="col">Point</th>
                      <th scope="col">x, from the left (%)</th>
                      <th scope="col">y, from the top (%)</th>
                    </tr>
                  </thead>
                  <tbody>
                    {points.map((p, i) => (
                      <tr key={i} class={canChange && i === selected ? 'selected' : undefined}>
                        <th scope="row">
                          {canChange ? (
                            <button type="button" class="plain" aria-pressed={i === selected} onClick={() => setSelected(i)}>
                              Point {i}
                            </button>
                          ) : (
                            `Point ${i}`
                          )}
                        </th>
                        {(['x', 'y'] as const).map((axis) => (
                          <td key={axis}>
                            {canChange ? (
                              <CoordinateInput
                                label={`Point ${i} ${axis} (%)`}
                                value={p[axis]}
                                onFocus={() => setSelected(i)}
                                onCommit={(value) => edit(points.with(i, { ...p, [axis]: value }), i)}
                              />
                            ) : (
                              percent(p[axis])
                            )}
                          </td>
                        ))}
                      </tr>
                    ))}
                    {points.length === 0 && (
                      <tr>
                        <td colSpan={3}>No points yet{canChange ? ': click on the frame, or Add point.' : '.'}</td>
                      </tr>
                    )}
                  </tbody>
                </table>
              </div>
              {canChange && (
                <div class="zone-actions">
                  <p class="inline">
                    <button type="button" class="secondary" onClick={addPoint}>
                      Add point
                    </button>
                    <button type="button" class="secondary" onClick={removePoint} disabled={selected === null}>
                      Remove point{selected !== null ? ` ${selected}` : ''}
                    </button>
                    <button type="button" class="secondary" onClick={() => edit([], null)} disabled={points.length === 0}>
                      Remove all points
                    </button>
                  </p>
                  <p class="inline">
                    <button type="button" onClick={() => void save()} disabled={busy}>
                      Save
                    </button>
                    <button type="button" class="secondary" onClick={() => void reset()} disabled={busy}>
                      Reset
                    </button>
                    <span>{dirty ? 'Unsaved changes.' : 'As saved.'}</span>
                  </p>
                  {/* Beside Save, where the eye is; in the page from the start, so screen readers announce what comes into them. */}
                  <p class="error" role="alert">
                    {refusal}
                  </p>
                  <p class="result" role="status">
                    {result}
                  </p>
                </div>
              )}
            </div>
          </div>
        </>
      )}
    </section>
  );
}
