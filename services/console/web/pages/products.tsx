import { useEffect, useRef, useState } from 'preact/hooks';
import { api, formatTime, type UploadProgress } from '../api.ts';
import { useLive, type ProductState, type ProductSummary } from '../live.ts';

/** A product's id, as inference takes it (schemas' idSchema): also the label its objects get. */
const PRODUCT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Inference's limits for one upload (services/inference/src/http/products.ts). */
const MAX_PHOTOS = 20;
const MAX_FORM_BYTES = 64 * 1024 * 1024;
const ACCEPT = 'image/jpeg,image/png,image/webp';

/** A stored photo, as GET /api/products/:id lists it. */
interface Photo {
  id: string;
  addedAt: number;
  source: string;
  crop: 'whole' | 'detector' | 'box';
  box: { x: number; y: number; width: number; height: number } | null;
  bytes: number;
  url: string;
}
interface Product {
  id: string;
  name: string | null;
  photos: Photo[];
  updatedAt: number;
}
interface Taught {
  product: ProductSummary;
  added: Photo[];
}

interface Voice {
  /** A result, in the status region; `keep`: still said on the view the page goes to next. */
  said: (text: string, keep?: boolean) => void;
  /** A refusal or failure, in the alert region. */
  refused: (text: string) => void;
}

const productHref = (id: string) => `#/products/${encodeURIComponent(id)}`;
const productPath = (id: string) => `/api/products/${encodeURIComponent(id)}`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const titleOf = (p: { id: string; name: string | null }) => (p.name ? `${p.name} (${p.id})` : p.id);

function cropText(photo: Photo): string {
  if (photo.crop === 'whole') return 'the whole photo';
  if (photo.box === null) return 'the whole photo (the detector found nothing in it)';
  return photo.crop === 'detector' ? "cut to the detector's box" : 'cut to the box given';
}

function sizeText(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.max(1, Math.round(bytes / 1024))} KiB`;
}

/**
 * Teaching a product from photos: its id and name (a new product), the photos from the device or
 * the camera (`capture` opens the back camera on phones), and how to cut them. Sent as one form;
 * the bar shows the upload, then inference cuts and learns each photo.
 */
function TeachForm(props: { product: Product | null; voice: Voice; onTaught: (taught: Taught) => void }) {
  const { product, voice, onTaught } = props;
  const form = useRef<HTMLFormElement>(null);
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<File[]>([]);
  const [taken, setTaken] = useState<File[]>([]);
  const [crop, setCrop] = useState<'detector' | 'whole'>('detector');
  const [invalid, setInvalid] = useState<{ field: 'id' | 'name' | 'photos'; message: string } | null>(null);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const prefix = product === null ? 'teach' : 'add';
  const files = [...chosen, ...taken];
  const bytes = files.reduce((sum, f) => sum + f.size, 0);

  const problem = (): { field: 'id' | 'name' | 'photos'; message: string } | null => {
    if (product === null && !PRODUCT_ID.test(id))
      return { field: 'id', message: 'The product id must be 1-64 letters, digits, _ or -, starting with a letter or digit.' };
    if (product === null && name.trim().length > 120) return { field: 'name', message: 'The name must be at most 120 characters.' };
    if (files.length === 0) return { field: 'photos', message: 'Choose or take at least one photo.' };
    if (files.length > MAX_PHOTOS) return { field: 'photos', message: `At most ${MAX_PHOTOS} photos at a time: ${files.length} are chosen.` };
    // (The form adds a few hundred bytes a photo around the files.)
    if (bytes + files.length * 1024 > MAX_FORM_BYTES) return { field: 'photos', message: `The photos weigh ${sizeText(bytes)}: at most 64 MiB at a time.` };
    return null;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const wrong = problem();
    setInvalid(wrong);
    if (wrong !== null) {
      voice.refused(`Not sent: ${wrong.message}`);
      form.current?.querySelector<HTMLElement>(`#${prefix}-${wrong.field === 'photos' ? 'files' : wrong.field}`)?.focus();
      return;
    }
    const target = product?.id ?? id;
    const data = new FormData();
    data.append('crop', crop);
    if (product === null && name.trim() !== '') data.append('name', name.trim());
    for (const file of files) data.append('photos', file, file.name);
    setBusy(true);
    setProgress({ sent: 0, total: bytes });
    voice.said(`Sending ${plural(files.length, 'photo')} of ${target}…`);
    try {
      const taught = await api.upload<Taught>(`${productPath(target)}/photos`, data, (p) => {
        setProgress(p);
        if (p.sent >= p.total) voice.said(`Sent: inference is cutting and learning ${plural(files.length, 'photo')} of ${target}…`);
      });
      voice.said(`Taught ${target}: ${plural(taught.added.length, 'photo')} added, ${taught.product.photos} in all.`);
      form.current?.reset();
      setId('');
      setName('');
      setChosen([]);
      setTaken([]);
      onTaught(taught);
    } catch (err) {
      voice.refused(`Not taught: ${(err as Error).message}`);
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  const describedBy = (field: 'id' | 'name' | 'photos', help: string) => (invalid?.field === field ? `${help} ${prefix}-invalid` : help);
  const percent = progress && progress.total > 0 ? Math.round((progress.sent / progress.total) * 100) : 0;
  return (
    <form ref={form} class="teach" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
      {product === null && (
        <>
          <p>
            <label for="teach-id">Product id</label>
            <input
              id="teach-id"
              name="id"
              value={id}
              required
              maxLength={64}
              autoComplete="off"
              spellcheck={false}
              aria-invalid={invalid?.field === 'id'}
              aria-describedby={describedBy('id', 'teach-id-help')}
              onInput={(e) => setId(e.currentTarget.value.trim())}
            />
            <span id="teach-id-help" class="help">
              1-64 letters, digits, _ or -, starting with a letter or digit: the label recognised objects get, which the catalog maps to what is sold. An id
              already taught gets the photos added.
            </span>
          </p>
          <p>
            <label for="teach-name">Name (optional)</label>
            <input
              id="teach-name"
              name="name"
              value={name}
              maxLength={120}
              autoComplete="off"
              aria-invalid={invalid?.field === 'name'}
              aria-describedby={describedBy('name', 'teach-name-help')}
              onInput={(e) => setName(e.currentTarget.value)}
            />
            <span id="teach-name-help" class="help">
              What staff call it, shown here.
            </span>
          </p>
        </>
      )}
      <p>
        <label for={`${prefix}-files`}>Photos</label>
        <input
          id={`${prefix}-files`}
          type="file"
          accept={ACCEPT}
          multiple
          aria-invalid={invalid?.field === 'photos'}
          aria-describedby={describedBy('photos', `${prefix}-files-help`)}
          onChange={(e) => setChosen([...(e.currentTarget.files ?? [])])}
        />
        <span id={`${prefix}-files-help`} class="help">
          JPEG, PNG or WebP; up to {MAX_PHOTOS} at a time. Photos from several sides and in the store's light teach it best.
        </span>
      </p>
      <p>
        <label for={`${prefix}-camera`}>Or take a photo with the camera</label>
        <input id={`${prefix}-camera`} type="file" accept={ACCEPT} capture="environment" onChange={(e) => setTaken([...(e.currentTarget.files ?? [])])} />
      </p>
      <fieldset>
        <legend>Cut each photo to</legend>
        <p>
          <input type="radio" id={`${prefix}-crop-detector`} name="crop" value="detector" checked={crop === 'detector'} onChange={() => setCrop('detector')} />
          <label for={`${prefix}-crop-detector`}>the object the detector finds in it (the whole photo when it finds none)</label>
        </p>
        <p>
          <input type="radio" id={`${prefix}-crop-whole`} name="crop" value="whole" checked={crop === 'whole'} onChange={() => setCrop('whole')} />
          <label for={`${prefix}-crop-whole`}>the whole photo (a close-up showing only the product)</label>
        </p>
      </fieldset>
      <p class="inline">
        <button type="submit" disabled={busy}>
          {product === null ? 'Teach the product' : 'Add the photos'}
        </button>
        <span>{files.length === 0 ? 'No photo chosen.' : `${plural(files.length, 'photo')}, ${sizeText(bytes)}.`}</span>
      </p>
      {invalid && (
        <p id={`${prefix}-invalid`} class="error">
          {invalid.message}
        </p>
      )}
      {progress && (
        <p class="inline">
          <label for={`${prefix}-progress`}>{percent < 100 ? 'Sending' : 'Learning'}</label>
          {percent < 100 ? <progress id={`${prefix}-progress`} max={100} value={percent} /> : <progress id={`${prefix}-progress`} />}
          <span>{percent < 100 ? `${percent} %` : 'inference is cutting and learning the photos'}</span>
        </p>
      )}
    </form>
  );
}

function ProductList(props: { canChange: boolean; voice: Voice }) {
  const { canChange, voice } = props;
  const live = useLive();
  const [list, setList] = useState<ProductState | null>(live.products);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    api.get<ProductState>('/api/products').then(
      (body) => {
        setList(body);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  useEffect(() => {
    void load();
  }, []);
  // Every change inference makes, whoever asked for it (another operator, MQTT), as it says it.
  useEffect(() => {
    if (live.products !== null) {
      setList(live.products);
      setError(null);
    }
  }, [live.products]);
  return (
    <>
      <p>
        Each object the detector finds is compared with the photos taught here. When it looks enough like a product, it is labelled with the product's id, and
        the catalog maps that id to what is sold; otherwise it is an <code>unknown-product</code>.
        {list && ` Similarity needed: ${list.threshold}; image backbone ${list.backbone}.`}
      </p>
      {canChange ? (
        <section aria-labelledby="teach-heading">
          <h2 id="teach-heading">Teach a product</h2>
          <TeachForm product={null} voice={voice} onTaught={() => void load()} />
        </section>
      ) : (
        <p class="help">You can look at the products; an operator account can teach and change them.</p>
      )}
      <h2>Products{list ? ` (${list.products.length})` : ''}</h2>
      {error && <p class="error">Cannot list the products: {error}</p>}
      {list && list.products.length === 0 && <p>No product has been taught yet.</p>}
      {list && list.products.length > 0 && (
        <div class="table-box">
          <table class="products">
            <thead>
              <tr>
                <th scope="col">Photo</th>
                <th scope="col">Product</th>
                <th scope="col">Photos</th>
                <th scope="col">Last change</th>
              </tr>
            </thead>
            <tbody>
              {list.products.map((p) => (
                <tr key={p.id}>
                  <td>
                    {p.photos > 0 ? (
                      // The first photo; the row names the product, so the picture adds nothing to read.
                      <img class="thumbnail" src={`${productPath(p.id)}/thumbnail?v=${p.updatedAt}`} alt="" width={64} height={64} loading="lazy" />
                    ) : (
                      'none'
                    )}
                  </td>
                  <th scope="row">
                    <a href={productHref(p.id)}>{p.id}</a>
                    {p.name && <span class="name"> {p.name}</span>}
                  </th>
                  <td>{plural(p.photos, 'photo')}</td>
                  <td>{formatTime(p.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ProductDetail(props: { id: string; canChange: boolean; voice: Voice; onTitle: (title: string) => void }) {
  const { id, canChange, voice, onTitle } = props;
  const live = useLive();
  const [product, setProduct] = useState<Product | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const [rename, setRename] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const photosHeading = useRef<HTMLHeadingElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const pushed = live.products?.products.find((p) => p.id === id);

  const load = async () => {
    try {
      const body = await api.get<Product>(productPath(id));
      setProduct(body);
      setMissing(null);
      setRename((current) => (product === null || current === (product.name ?? '') ? (body.name ?? '') : current));
      onTitle(titleOf(body));
    } catch (err) {
      setProduct(null);
      setMissing((err as Error).message);
    }
  };
  // Again whenever inference says the product changed (photos added or removed, renamed, deleted), by anyone.
  useEffect(() => {
    void load();
  }, [id, pushed?.updatedAt, pushed?.photos, pushed === undefined]);
  useEffect(() => {
    if (confirming) cancel.current?.focus();
  }, [confirming]);

  const removePhoto = async (photo: Photo, index: number) => {
    setBusy(true);
    try {
      await api.delete(`${productPath(id)}/photos/${encodeURIComponent(photo.id)}`);
      voice.said(`Photo ${index + 1} of ${id} deleted.`);
      await load();
      photosHeading.current?.focus();
    } catch (err) {
      voice.refused(`Photo not deleted: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const saveName = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const saved = await api.put<Product>(productPath(id), { name: rename.trim() === '' ? null : rename.trim() });
      setProduct(saved);
      onTitle(titleOf(saved));
      voice.said(saved.name ? `${id} is now called ${saved.name}.` : `${id} has no name now.`);
    } catch (err) {
      voice.refused(`Not renamed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const removeProduct = async () => {
    setBusy(true);
    try {
      await api.delete(productPath(id));
      voice.said(`${id} deleted, with its photos: objects are no longer recognised as it.`, true);
      location.hash = '#/products';
    } catch (err) {
      voice.refused(`Not deleted: ${(err as Error).message}`);
      setBusy(false);
    }
  };

  if (product === null) {
    return (
      <>
        <p>
          <a href="#/products">All products</a>
        </p>
        {missing && (
          <p class="error">
            Cannot show {id}: {missing}
          </p>
        )}
      </>
    );
  }
  const label = titleOf(product);
  return (
    <>
      <p>
        <a href="#/products">All products</a>
      </p>
      <p>
        Objects that look like these photos are labelled <code>{product.id}</code>. {plural(product.photos.length, 'photo')}; last change{' '}
        {formatTime(product.updatedAt)}.
      </p>
      <h2 ref={photosHeading} tabIndex={-1}>
        Photos
      </h2>
      {product.photos.length === 0 && <p>No photo yet: until it has one, nothing is recognised as {product.id}.</p>}
      <ul class="photos">
        {product.photos.map((photo, i) => (
          <li key={photo.id}>
            <figure>
              <img src={photo.url} alt={`Photo ${i + 1} of ${label}`} width={160} height={160} loading="lazy" />
              <figcaption>
                Photo {i + 1}: {cropText(photo)}, added {formatTime(photo.addedAt)}
                {photo.source === 'mqtt' ? ' over MQTT' : ''}.
              </figcaption>
            </figure>
            {canChange && (
              <button type="button" class="secondary" disabled={busy} onClick={() => void removePhoto(photo, i)}>
                Delete photo {i + 1}
              </button>
            )}
          </li>
        ))}
      </ul>
      {canChange && (
        <>
          <section aria-labelledby="add-heading">
            <h2 id="add-heading">Add photos</h2>
            <TeachForm product={product} voice={voice} onTaught={() => void load()} />
          </section>
          <section aria-labelledby="rename-heading">
            <h2 id="rename-heading">Rename</h2>
            <form class="inline" onSubmit={(e) => void saveName(e)}>
              <label for="rename">Name</label>
              <input id="rename" value={rename} maxLength={120} autoComplete="off" onInput={(e) => setRename(e.currentTarget.value)} />
              <button type="submit" disabled={busy}>
                Save the name
              </button>
            </form>
          </section>
          <section aria-labelledby="delete-heading">
            <h2 id="delete-heading">Delete the product</h2>
            {!confirming ? (
              <button type="button" class="secondary" disabled={busy} onClick={() => setConfirming(true)}>
                Delete {product.id}…
              </button>
            ) : (
              <div class="confirm" role="group" aria-labelledby="confirm-question">
                <p id="confirm-question">
                  Delete {product.id} and its {plural(product.photos.length, 'photo')}? Objects will no longer be recognised as it.
                </p>
                <p class="inline">
                  <button type="button" class="danger" disabled={busy} onClick={() => void removeProduct()}>
                    Yes, delete {product.id}
                  </button>
                  <button type="button" class="secondary" ref={cancel} onClick={() => setConfirming(false)}>
                    Cancel
                  </button>
                </p>
              </div>
            )}
          </section>
        </>
      )}
    </>
  );
}

/**
 * The products inference recognises, taught from photos: `#/products` lists them (and teaches a
 * new one), `#/products/<id>` shows one with its photos. What happens is said in the page's live
 * regions, which stay put from one view to the other.
 */
export function ProductsPage({ canChange, product }: { canChange: boolean; product: string | null }) {
  const [result, setResult] = useState('');
  const [refusal, setRefusal] = useState('');
  const [title, setTitle] = useState<string | null>(null);
  const keep = useRef(false);
  const voice: Voice = {
    said: (text, keepIt = false) => {
      keep.current = keepIt;
      setRefusal('');
      setResult(text);
    },
    refused: (text) => {
      keep.current = false;
      setResult('');
      setRefusal(text);
    },
  };
  useEffect(() => {
    setTitle(null);
    document.title = `${product === null ? 'Products' : `Product ${product}`} · Sightline console`;
    // What was said belongs to the view it was said on, unless it is why the page moved (a deletion).
    if (!keep.current) {
      setResult('');
      setRefusal('');
    }
    keep.current = false;
  }, [product]);
  return (
    <section class="products-page">
      <h1 tabIndex={-1}>{product === null ? 'Products' : `Product ${title ?? product}`}</h1>
      <p class="error" role="alert">
        {refusal}
      </p>
      <p class="result" role="status">
        {result}
      </p>
      {product === null ? (
        <ProductList canChange={canChange} voice={voice} />
      ) : (
        <ProductDetail key={product} id={product} canChange={canChange} voice={voice} onTitle={setTitle} />
      )}
    </section>
  );
}
