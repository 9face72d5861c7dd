/** A multipart/form-data body that cannot be read. */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

export interface FormPart {
  /** The form field's name ('' when the part names none). */
  name: string;
  /** The file name, for a file part; null for a plain field. */
  filename: string | null;
  contentType: string | null;
  data: Buffer;
}

/**
 * The parts of a multipart/form-data body (RFC 7578), already whole in memory (its size was capped
 * by the route's body limit). At most `maxParts` parts; a body without its boundary, or a part
 * without headers, is refused.
 */
export function parseMultipart(body: Buffer, contentType: string, maxParts = 64): FormPart[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new MultipartError('multipart/form-data without a boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]!.trim()}`);
  const parts: FormPart[] = [];
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const headerStart = start + delimiter.length;
    if (body.subarray(headerStart, headerStart + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, headerStart);
    if (next === -1) break;
    if (parts.length >= maxParts) throw new MultipartError(`more than ${maxParts} parts`);
    const part = body.subarray(headerStart + 2, next - 2); // the CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    if (split === -1) throw new MultipartError('a part has no headers');
    const headers = part.subarray(0, split).toString('latin1');
    const disposition = /content-disposition:([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    parts.push({
      name: /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? /\bname=([^;\s]+)/i.exec(disposition)?.[1] ?? '',
      filename: /\bfilename="([^"]*)"/i.exec(disposition)?.[1] ?? /\bfilename=([^;\s]+)/i.exec(disposition)?.[1] ?? null,
      contentType: /content-type:\s*([^\r\n;]+)/i.exec(headers)?.[1]?.trim() ?? null,
      data: part.subarray(split + 4),
    });
    start = next;
  }
  return parts;
}
