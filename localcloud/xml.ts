/**
 * A small XML writer for AWS Query responses. Values are plain objects whose keys are element
 * names, in order; arrays become `<item>` lists (EC2's convention) unless a list element name is
 * given with {@link list}; `undefined` and `null` are left out.
 */

export type XmlValue = string | number | boolean | Date | undefined | null | XmlObject | XmlList | XmlValue[];

export interface XmlObject {
  [element: string]: XmlValue;
}

/** A list whose entries use another element name than `item` (ELBv2 uses `member`). */
export class XmlList {
  constructor(
    readonly element: string,
    readonly entries: readonly XmlValue[],
  ) {}
}

export const list = (element: string, entries: readonly XmlValue[]) => new XmlList(element, entries);

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&apos;' : '&quot;',
  );
}

function content(value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof XmlList) return value.entries.map((entry) => element(value.element, entry)).join('');
  if (Array.isArray(value)) return value.map((entry) => element('item', entry)).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .map(([name, child]) => element(name, child))
      .join('');
  }
  return escapeXml(String(value));
}

function element(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  return `<${name}>${content(value)}</${name}>`;
}

/** `<?xml …?>` and `<Root xmlns="…">…</Root>`; without a namespace, no `xmlns`. */
export function document(root: string, body: XmlObject, namespace?: string): string {
  const open = namespace === undefined ? root : `${root} xmlns="${namespace}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${open}>${content(body)}</${root}>`;
}

/**
 * The Query protocol's `ErrorResponse` (ELBv2's, and the server's own before a request reaches a
 * service): `Sender` for the caller's mistakes, `Receiver` for the service's.
 */
export function errorDocument(
  error: { code: string; message: string; httpStatus: number },
  requestId: string,
  namespace?: string,
): string {
  const type = error.httpStatus >= 500 ? 'Receiver' : 'Sender';
  return document(
    'ErrorResponse',
    { Error: { Type: type, Code: error.code, Message: error.message }, RequestId: requestId },
    namespace,
  );
}
