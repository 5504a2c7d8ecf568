/**
 * A small, safe Markdown subset for model replies: fenced code blocks, headings, block quotes,
 * rules, ordered and unordered lists (nested by indentation), paragraphs with line breaks, and
 * inline code, **strong**, *emphasis*, ~~strike~~, [links](https://…) and bare http(s) URLs.
 *
 * Safety: parsing yields a plain tree of text; rendering builds DOM nodes with createElement and
 * createTextNode only — never innerHTML — so HTML in the source is shown as text and never runs.
 * Links keep only http: and https: URLs (anything else renders as its text) and open with
 * rel="noopener noreferrer". The parser is tolerant of half-written input, because it re-runs on
 * every streamed token: an unclosed fence is code so far, an unclosed `**` is literal text.
 */

export type Inline =
  { t: 'text'; v: string } | { t: 'code'; v: string } | { t: 'br' } | { t: 'strong' | 'em' | 'del'; c: Inline[] } | { t: 'link'; href: string; c: Inline[] };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'h'; level: 1 | 2 | 3 | 4 | 5 | 6; c: Inline[] }
  | { t: 'code'; lang: string; v: string }
  | { t: 'list'; ordered: boolean; start: number; items: Block[][] }
  | { t: 'quote'; c: Block[] }
  | { t: 'hr' };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^(\s*)([-*+]|(\d{1,9})[.)])(?:\s+(.*))?$/;

function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n += 1;
    else if (ch === '\t') n += 4;
    else break;
  }
  return n;
}

function isBlank(line: string): boolean {
  return line.trim() === '';
}

/** Removes up to `n` columns of leading indentation. */
function dedent(line: string, n: number): string {
  let i = 0;
  let col = 0;
  while (i < line.length && col < n) {
    const ch = line[i];
    if (ch === ' ') col += 1;
    else if (ch === '\t') col += 4;
    else break;
    i++;
  }
  return line.slice(i);
}

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || LIST_ITEM.test(line);
}

export function parseMarkdown(source: string): Block[] {
  return parseBlocks(source.replace(/\r\n?/g, '\n').split('\n'), 0);
}

function parseBlocks(lines: string[], depth: number): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (isBlank(line)) {
      i++;
      continue;
    }

    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1] ?? '```';
      const indent = indentOf(line);
      const body: string[] = [];
      i++;
      while (i < lines.length) {
        const l = lines[i] ?? '';
        const trimmed = l.trim();
        if (trimmed.startsWith(marker[0]!.repeat(marker.length)) && /^(`+|~+)$/.test(trimmed)) {
          i++;
          break;
        }
        body.push(dedent(l, indent));
        i++;
      }
      blocks.push({ t: 'code', lang: (fence[2] ?? '').replace(/[^\w+#.-]/g, ''), v: body.join('\n') });
      continue;
    }

    const heading = HEADING.exec(line);
    if (heading && (heading[2] ?? '') !== '') {
      blocks.push({ t: 'h', level: (heading[1] ?? '#').length as 1 | 2 | 3 | 4 | 5 | 6, c: parseInline(heading[2] ?? '') });
      i++;
      continue;
    }

    if (RULE.test(line)) {
      blocks.push({ t: 'hr' });
      i++;
      continue;
    }

    if (QUOTE.test(line) && depth < 8) {
      const inner: string[] = [];
      while (i < lines.length && !isBlank(lines[i] ?? '')) {
        const m = QUOTE.exec(lines[i] ?? '');
        inner.push(m ? (m[1] ?? '') : (lines[i] ?? ''));
        i++;
      }
      blocks.push({ t: 'quote', c: parseBlocks(inner, depth + 1) });
      continue;
    }

    const item = LIST_ITEM.exec(line);
    if (item && depth < 8) {
      i = parseList(lines, i, depth, blocks);
      continue;
    }

    // A paragraph: up to a blank line or the start of another block.
    const para: string[] = [line.trim()];
    i++;
    while (i < lines.length && !isBlank(lines[i] ?? '') && !startsBlock(lines[i] ?? '')) {
      para.push((lines[i] ?? '').trim());
      i++;
    }
    blocks.push({ t: 'p', c: parseInline(para.join('\n')) });
  }
  return blocks;
}

/** Parses the list starting at `start`; returns the index after it. */
function parseList(lines: string[], start: number, depth: number, out: Block[]): number {
  const first = LIST_ITEM.exec(lines[start] ?? '');
  if (!first) return start + 1;
  const baseIndent = indentOf(first[1] ?? '');
  const ordered = first[3] !== undefined;
  const list: Extract<Block, { t: 'list' }> = { t: 'list', ordered, start: ordered ? Number(first[3]) : 1, items: [] };
  let i = start;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i] ?? '');
    if (!m || indentOf(m[1] ?? '') !== baseIndent || (m[3] !== undefined) !== ordered) break;
    // Content lines of this item: its first line, then lines indented past the marker column,
    // and blank lines followed by such indented lines.
    const contentIndent = baseIndent + (m[2] ?? '-').length + 1;
    const body: string[] = [m[4] ?? ''];
    i++;
    while (i < lines.length) {
      const l = lines[i] ?? '';
      if (isBlank(l)) {
        const next = lines[i + 1];
        if (next !== undefined && !isBlank(next) && indentOf(next) > baseIndent) {
          body.push('');
          i++;
          continue;
        }
        break;
      }
      const indent = indentOf(l);
      if (indent > baseIndent) {
        body.push(dedent(l, Math.min(indent, contentIndent)));
        i++;
        continue;
      }
      // A lazy continuation line (not indented, not a new block) still belongs to the item.
      if (!startsBlock(l)) {
        body.push(l.trim());
        i++;
        continue;
      }
      break;
    }
    list.items.push(parseBlocks(body, depth + 1));
    // A blank line between items of the same list does not end it.
    if (isBlank(lines[i] ?? 'x')) {
      let j = i;
      while (j < lines.length && isBlank(lines[j] ?? '')) j++;
      const next = LIST_ITEM.exec(lines[j] ?? '');
      if (next && indentOf(next[1] ?? '') === baseIndent && (next[3] !== undefined) === ordered) i = j;
    }
  }
  out.push(list);
  return i;
}

const SAFE_PROTOCOLS = new Set(['http:', 'https:']);

/** The URL if it is absolute http(s), else undefined. */
export function safeHref(raw: string): string | undefined {
  const trimmed = raw.trim().replace(/^<|>$/g, '');
  if (!/^https?:\/\//i.test(trimmed)) return undefined;
  try {
    const url = new URL(trimmed);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const BARE_URL = /^https?:\/\/[^\s<>"'`]+/i;
const ESCAPABLE = '\\`*_{}[]()#+-.!~>|';

function pushText(out: Inline[], v: string): void {
  if (v === '') return;
  const last = out.at(-1);
  if (last?.t === 'text') last.v += v;
  else out.push({ t: 'text', v });
}

function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
}

export function parseInline(src: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;

    if (ch === '\\' && i + 1 < src.length && ESCAPABLE.includes(src[i + 1]!)) {
      pushText(out, src[i + 1]!);
      i += 2;
      continue;
    }

    if (ch === '\n') {
      out.push({ t: 'br' });
      i++;
      continue;
    }

    if (ch === '`') {
      let run = 0;
      while (src[i + run] === '`') run++;
      const fence = '`'.repeat(run);
      let close = src.indexOf(fence, i + run);
      while (close !== -1 && src[close + run] === '`') close = src.indexOf(fence, close + run + 1);
      if (close !== -1) {
        let code = src.slice(i + run, close).replace(/\n/g, ' ');
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ')) code = code.slice(1, -1);
        out.push({ t: 'code', v: code });
        i = close + run;
        continue;
      }
      pushText(out, fence);
      i += run;
      continue;
    }

    if (depth < 6 && (ch === '*' || ch === '_' || ch === '~')) {
      const double = src[i + 1] === ch;
      if (ch === '~' && !double) {
        pushText(out, ch);
        i++;
        continue;
      }
      const delim = double ? ch + ch : ch;
      const after = src[i + delim.length];
      // An opener must be followed by non-space; `_` must not sit inside a word (snake_case).
      const opens = after !== undefined && !/\s/.test(after) && !(ch === '_' && isWordChar(src[i - 1]));
      if (opens) {
        let close = i + delim.length;
        let found = -1;
        while ((close = src.indexOf(delim, close + 1)) !== -1) {
          const before = src[close - 1];
          const next = src[close + delim.length];
          const okEnd = before !== undefined && !/\s/.test(before) && !(ch === '_' && isWordChar(next));
          // For single `*`, do not close on half of a `**`.
          const partOfDouble = !double && (src[close + 1] === ch || src[close - 1] === ch);
          if (okEnd && !partOfDouble) {
            found = close;
            break;
          }
        }
        if (found !== -1) {
          const inner = src.slice(i + delim.length, found);
          const t = ch === '~' ? 'del' : double ? 'strong' : 'em';
          out.push({ t, c: parseInline(inner, depth + 1) });
          i = found + delim.length;
          continue;
        }
      }
      pushText(out, delim);
      i += delim.length;
      continue;
    }

    if (ch === '[' && depth < 6) {
      const link = parseLink(src, i, depth);
      if (link) {
        for (const node of link.nodes) {
          if (node.t === 'text') pushText(out, node.v);
          else out.push(node);
        }
        i = link.end;
        continue;
      }
    }

    if ((ch === 'h' || ch === 'H') && !isWordChar(src[i - 1])) {
      const m = BARE_URL.exec(src.slice(i));
      if (m) {
        // Trailing punctuation belongs to the sentence, not the URL.
        let url = m[0];
        while (/[.,;:!?)\]*_~]$/.test(url)) {
          if (url.endsWith(')') && (url.match(/\(/g)?.length ?? 0) >= (url.match(/\)/g)?.length ?? 0)) break;
          url = url.slice(0, -1);
        }
        const href = safeHref(url);
        if (href) {
          out.push({ t: 'link', href, c: [{ t: 'text', v: url }] });
          i += url.length;
          continue;
        }
      }
    }

    pushText(out, ch);
    i++;
  }
  return out;
}

/** `[text](url)` at `start`: a link if the URL is http(s), else the text alone; undefined if not link syntax. */
function parseLink(src: string, start: number, depth: number): { nodes: Inline[]; end: number } | undefined {
  let level = 0;
  let close = -1;
  for (let j = start; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '[') level++;
    else if (c === ']' && --level === 0) {
      close = j;
      break;
    } else if (c === '\n' && src[j + 1] === '\n') return undefined;
  }
  if (close === -1 || src[close + 1] !== '(') return undefined;
  let parens = 0;
  let end = -1;
  for (let j = close + 1; j < src.length; j++) {
    const c = src[j];
    if (c === '(') parens++;
    else if (c === ')' && --parens === 0) {
      end = j;
      break;
    } else if (c === '\n') return undefined;
  }
  if (end === -1) return undefined;
  const text = parseInline(src.slice(start + 1, close), depth + 1);
  // A title ("…") after the URL is allowed and dropped.
  const target = src
    .slice(close + 2, end)
    .trim()
    .replace(/\s+["'].*["']$/, '');
  const href = safeHref(target);
  return { nodes: href ? [{ t: 'link', href, c: text }] : text, end: end + 1 };
}

// ---- Rendering: DOM nodes only ----

function renderInline(nodes: Inline[], parent: Node, doc: Document): void {
  for (const node of nodes) {
    switch (node.t) {
      case 'text':
        parent.appendChild(doc.createTextNode(node.v));
        break;
      case 'br':
        parent.appendChild(doc.createElement('br'));
        break;
      case 'code': {
        const el = doc.createElement('code');
        el.textContent = node.v;
        parent.appendChild(el);
        break;
      }
      case 'strong':
      case 'em':
      case 'del': {
        const el = doc.createElement(node.t);
        renderInline(node.c, el, doc);
        parent.appendChild(el);
        break;
      }
      case 'link': {
        const a = doc.createElement('a');
        a.href = node.href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        renderInline(node.c, a, doc);
        parent.appendChild(a);
        break;
      }
    }
  }
}

function renderBlocks(blocks: Block[], parent: Node, doc: Document): void {
  for (const block of blocks) {
    switch (block.t) {
      case 'p': {
        const p = doc.createElement('p');
        renderInline(block.c, p, doc);
        parent.appendChild(p);
        break;
      }
      case 'h': {
        const h = doc.createElement(`h${block.level}`);
        renderInline(block.c, h, doc);
        parent.appendChild(h);
        break;
      }
      case 'code': {
        const pre = doc.createElement('pre');
        const code = doc.createElement('code');
        if (block.lang) {
          code.className = `language-${block.lang}`;
          pre.dataset['lang'] = block.lang;
        }
        code.textContent = block.v;
        pre.appendChild(code);
        parent.appendChild(pre);
        break;
      }
      case 'list': {
        const list = doc.createElement(block.ordered ? 'ol' : 'ul');
        if (block.ordered && block.start !== 1) list.setAttribute('start', String(block.start));
        for (const item of block.items) {
          const li = doc.createElement('li');
          // A one-paragraph item renders without its <p>, like a tight list.
          const only = item.length === 1 ? item[0] : undefined;
          if (only?.t === 'p') renderInline(only.c, li, doc);
          else renderBlocks(item, li, doc);
          list.appendChild(li);
        }
        parent.appendChild(list);
        break;
      }
      case 'quote': {
        const q = doc.createElement('blockquote');
        renderBlocks(block.c, q, doc);
        parent.appendChild(q);
        break;
      }
      case 'hr':
        parent.appendChild(doc.createElement('hr'));
        break;
    }
  }
}

/** Markdown source → a fragment of safe DOM nodes. */
export function renderMarkdown(source: string, doc: Document = document): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  renderBlocks(parseMarkdown(source), fragment, doc);
  return fragment;
}
