// Resolving a Hugging Face model id to a local folder, through the same cache layout huggingface_hub uses:
//   {cache}/models--{org}--{name}/refs/{revision}          the commit hash a branch or tag points at
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file} a symlink to ../../blobs/{etag}
//   {cache}/models--{org}--{name}/blobs/{etag}              the file's bytes
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { writeFileAtomic } from './fs-atomic';
import { WEIGHT_FILES, shardFiles } from './hf-weight-files';

export interface ResolveOptions {
  /** Branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** Hub cache folder (default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Never download (default: HF_HUB_OFFLINE is set to 1/true/yes/on). */
  offline?: boolean;
  /** Exactly the files needed (default: config.json, the tokenizer files present, and the weights). */
  files?: string[];
}

const CONFIG = 'config.json';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

/** A local folder holding the model: `pathOrId` itself when it is a directory, else a hub cache snapshot. */
export async function resolveModelPath(pathOrId: string, options: ResolveOptions = {}): Promise<string> {
  if (isDirectory(pathOrId)) return pathOrId;
  if (!isRepoId(pathOrId)) throw new Error(`${pathOrId}: no such directory, and not a Hugging Face model id`);
  const revision = options.revision ?? 'main';
  checkRelativeName(revision, 'revision');
  options.files?.forEach((f) => checkRelativeName(f, 'file name'));
  const repo = { id: pathOrId, revision, dir: path.join(options.cacheDir ?? hubCacheDir(), repoFolderName(pathOrId)) };
  const cached = findCachedSnapshot(repo.dir, revision, options.files);
  if (cached) return cached;
  if (options.offline ?? isOfflineFromEnv()) {
    throw new Error(
      `${pathOrId} (revision ${revision}) is not in the Hugging Face cache at ${repo.dir}, ` +
        'and offline mode is on (HF_HUB_OFFLINE), so it cannot be downloaded',
    );
  }
  return downloadSnapshot(repo, options.files);
}

/**
 * What resolveModelPath resolves to without downloading: `pathOrId` when it is a folder, else the cached snapshot of
 * the hub id (config and weights complete), else undefined (not a folder, not an id, or not cached). Synchronous,
 * for the tokenizer's fromPretrained.
 */
export function findCachedModelPath(
  pathOrId: string,
  options: Pick<ResolveOptions, 'revision' | 'cacheDir'> = {},
): string | undefined {
  if (isDirectory(pathOrId)) return pathOrId;
  if (!isRepoId(pathOrId)) return undefined;
  const revision = options.revision ?? 'main';
  checkRelativeName(revision, 'revision');
  return findCachedSnapshot(path.join(options.cacheDir ?? hubCacheDir(), repoFolderName(pathOrId)), revision);
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface', 'hub');
}

export function repoFolderName(id: string): string {
  return `models--${id.split('/').join('--')}`;
}

function isOfflineFromEnv(): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((process.env.HF_HUB_OFFLINE ?? '').toUpperCase());
}

function isDirectory(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

// The hub's own rule: name or org/name of letters, digits, '-', '_', '.', without '--' or '..'.
function isRepoId(id: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)?$/.test(id) && !id.includes('--') && !id.includes('..') && !/^[.-]|[.-]$/.test(id);
}

function checkRelativeName(name: string, what: string): void {
  if (name === '' || path.isAbsolute(name) || name.split(/[\\/]/).includes('..')) {
    throw new Error(`invalid ${what} '${name}'`);
  }
}

const isCommitHash = (revision: string) => /^[0-9a-f]{40}$/.test(revision);

// ---------------------------------------------------------------------------------------------------
// Cache lookup

/** The snapshot folder for `revision` when it holds every needed file, else undefined. */
export function findCachedSnapshot(repoDir: string, revision: string, files?: string[]): string | undefined {
  const commit = isCommitHash(revision) ? revision : readRef(repoDir, revision);
  if (!commit) return undefined;
  const snapshot = path.join(repoDir, 'snapshots', commit);
  const has = (file: string) => fs.existsSync(path.join(snapshot, file)); // false for a dangling symlink
  const complete = files ? files.every(has) : has(CONFIG) && hasCompleteWeights(snapshot, has);
  return complete ? snapshot : undefined;
}

function readRef(repoDir: string, revision: string): string | undefined {
  try {
    const commit = fs.readFileSync(path.join(repoDir, 'refs', revision), 'utf8').trim();
    return isCommitHash(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

function hasCompleteWeights(snapshot: string, has: (file: string) => boolean): boolean {
  const weights = WEIGHT_FILES.find((w) => has(w.file));
  if (!weights) return false;
  return !weights.sharded || shardFiles(path.join(snapshot, weights.file)).every(has);
}

// ---------------------------------------------------------------------------------------------------
// Download

interface Repo {
  id: string;
  revision: string;
  dir: string;
}

/** Downloads the needed files into the cache and returns the snapshot folder. */
async function downloadSnapshot(repo: Repo, files?: string[]): Promise<string> {
  const session = new DownloadSession(repo);
  if (files) {
    for (const file of files) await session.download(file, true);
  } else {
    await session.download(CONFIG, true);
    for (const file of TOKENIZER_FILES) await session.download(file, false);
    await downloadWeights(session);
  }
  return session.finish();
}

async function downloadWeights(session: DownloadSession): Promise<void> {
  for (const { file, sharded } of WEIGHT_FILES) {
    const local = await session.download(file, false);
    if (!local) continue;
    if (sharded) {
      for (const shard of shardFiles(local)) await session.download(shard, true);
    }
    return;
  }
  throw new Error(
    `${session.repo.id} (revision ${session.repo.revision}) has none of ${WEIGHT_FILES.map((w) => w.file).join(', ')}`,
  );
}

class DownloadSession {
  private readonly endpoint = (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  private readonly token = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined;
  // Fixed by the first response, so that every file comes from the same commit.
  private commit: string | undefined;

  constructor(readonly repo: Repo) {}

  private snapshotDir(): string {
    return path.join(this.repo.dir, 'snapshots', this.commit ?? this.repo.revision);
  }

  /** The local path of `file`, or undefined when the repository has no such file and it is optional. */
  async download(file: string, required: boolean): Promise<string | undefined> {
    const url = `${this.endpoint}/${this.repo.id}/resolve/${encodeURIComponent(this.commit ?? this.repo.revision)}/${file}`;
    try {
      const fetched = await fetchFollowingRedirects(url, this.token);
      if (fetched.response.statusCode === 404 && !required) {
        fetched.response.resume();
        return undefined;
      }
      checkStatus(fetched.response);
      this.commit ??= fetched.commit ?? this.repo.revision;
      return await this.store(file, fetched);
    } catch (e) {
      throw new Error(`could not download ${file} of ${this.repo.id} from ${url}: ${(e as Error).message}`);
    }
  }

  private async store(file: string, fetched: Fetched): Promise<string> {
    const blobs = path.join(this.repo.dir, 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    const temp = path.join(blobs, `.${crypto.randomBytes(8).toString('hex')}.incomplete`);
    try {
      const sha256 = await saveBody(fetched.response, temp);
      const blob = path.join(blobs, fetched.etag ?? sha256);
      fs.renameSync(temp, blob);
      return linkIntoSnapshot(blob, path.join(this.snapshotDir(), file));
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  /** Points refs/{revision} at the commit, once every file is in place, and returns the snapshot folder. */
  finish(): string {
    if (this.commit && this.commit !== this.repo.revision) {
      const ref = path.join(this.repo.dir, 'refs', this.repo.revision);
      fs.mkdirSync(path.dirname(ref), { recursive: true });
      writeFileAtomic(ref, [Buffer.from(this.commit)]);
    }
    return this.snapshotDir();
  }
}

function checkStatus(response: http.IncomingMessage): void {
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  response.resume();
  const hint = status === 401 || status === 403 ? ' (gated or private repository? set HF_TOKEN)' : '';
  throw new Error(`HTTP ${status}${hint}`);
}

/** Streams the body to `temp` (fsynced), checking its length; returns its sha256. */
async function saveBody(response: http.IncomingMessage, temp: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  const out = await fs.promises.open(temp, 'wx');
  let received = 0;
  try {
    for await (const chunk of response) {
      hash.update(chunk as Buffer);
      received += (chunk as Buffer).length;
      await out.write(chunk as Buffer);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  const expected = response.headers['content-length'];
  if (expected !== undefined && Number(expected) !== received) {
    throw new Error(`the transfer stopped after ${received} of ${expected} bytes`);
  }
  return hash.digest('hex');
}

/** Points `target` at `blob` with a relative symlink, or moves the blob there where symlinks fail. */
function linkIntoSnapshot(blob: string, target: string): string {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.symlinkSync(path.relative(path.dirname(target), blob), temp);
    fs.renameSync(temp, target);
  } catch {
    fs.rmSync(temp, { force: true });
    fs.renameSync(blob, target);
  }
  return target;
}

// ---------------------------------------------------------------------------------------------------
// HTTP

interface Fetched {
  response: http.IncomingMessage;
  /** From the hub's x-repo-commit header (only a well-formed hash: it becomes a folder name). */
  commit?: string;
  /** The hub's id for the file's content (sha256 for LFS files, git sha1 otherwise): the blob's name. */
  etag?: string;
}

const MAX_REDIRECTS = 10;
const TIMEOUT_MS = 30_000;

async function fetchFollowingRedirects(url: string, token: string | undefined): Promise<Fetched> {
  const origin = new URL(url).host;
  const found: Omit<Fetched, 'response'> = {};
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // The token is for the hub only, never for the CDN it redirects to.
    const response = await get(url, new URL(url).host === origin ? token : undefined);
    // The first hub response names the commit and the file's content; a CDN's etag means something else.
    const commit = header(response, 'x-repo-commit');
    if (commit && isCommitHash(commit) && !found.commit) {
      found.commit = commit;
      found.etag = cleanEtag(header(response, 'x-linked-etag') ?? header(response, 'etag'));
    }
    const location = header(response, 'location');
    if (!isRedirect(response.statusCode) || !location) return { response, ...found };
    response.resume();
    url = new URL(location, url).toString();
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects`);
}

function get(url: string, token: string | undefined): Promise<http.IncomingMessage> {
  const client = url.startsWith('https:') ? https : http;
  const headers: http.OutgoingHttpHeaders = { 'user-agent': 'torch-lora' };
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const request = client.get(url, { headers }, resolve);
    request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error(`no response within ${TIMEOUT_MS / 1000} s`)));
    request.on('error', reject);
  });
}

const isRedirect = (status: number | undefined) => status !== undefined && [301, 302, 303, 307, 308].includes(status);

function header(response: http.IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// Only a hex digest is trusted as a file name.
function cleanEtag(etag: string | undefined): string | undefined {
  const value = etag?.replace(/^W\//, '').replace(/"/g, '');
  return value && /^[0-9a-f]{32,128}$/i.test(value) ? value : undefined;
}
