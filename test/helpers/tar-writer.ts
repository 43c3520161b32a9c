// A minimal tar writer, so the reader is tested against bytes laid out by hand rather than by itself.

export interface HeaderFields {
  name: string;
  size: number;
  type: string;
  prefix?: string;
}

export function tarHeader({ name, size, type, prefix = '' }: HeaderFields): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('14000000000\0', 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write(type, 156, 'latin1');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  block.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

export function tarEntry(name: string, content: string | Buffer, type = '0', prefix?: string): Buffer {
  const data = Buffer.from(content);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([tarHeader({ name, size: data.length, type, prefix }), data, padding]);
}

/** GNU: an 'L' entry whose data is the long name, then the entry itself with a truncated name. */
export function gnuLongNameEntry(longName: string, content: string): Buffer {
  return Buffer.concat([tarEntry('././@LongLink', `${longName}\0`, 'L'), tarEntry(longName.slice(0, 99), content)]);
}

/** pax: an 'x' entry with "<length> path=<name>\n", where length counts its own digits. */
export function paxEntry(path: string, content: string): Buffer {
  const rest = ` path=${path}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + 1;
  while (String(length).length + restBytes !== length) length++;
  return Buffer.concat([tarEntry('PaxHeaders/x', `${length}${rest}`, 'x'), tarEntry('short-pax-name', content)]);
}

export function tarArchive(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

/** A pax 'x' entry holding the given records ("<length> key=value\n", length counting itself). */
export function paxHeaderEntry(records: [string, string][]): Buffer {
  const body = records
    .map(([key, value]) => {
      const rest = ` ${key}=${value}\n`;
      const restBytes = Buffer.byteLength(rest);
      let length = restBytes + 1;
      while (String(length).length + restBytes !== length) length++;
      return `${length}${rest}`;
    })
    .join('');
  return tarEntry('PaxHeaders/x', body, 'x');
}

/** A header whose size field is GNU base-256 (for sizes beyond the 8 GiB octal can say), with its checksum redone. */
export function base256SizeHeader(name: string, size: bigint, type = '0'): Buffer {
  const block = tarHeader({ name, size: 0, type });
  block.fill(0, 124, 136);
  block[124] = 0x80;
  for (let i = 135, v = size; i > 124; i--, v >>= 8n) block[i] = Number(v & 0xffn);
  block.write('        ', 148, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}
