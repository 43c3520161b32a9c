// The server is an optional entry point, not part of the library: fastify and prom-client are optional peer
// dependencies (package.json), installed by `npm install fastify prom-client` in a project that serves. This module is
// imported first by main.ts so that a missing one is one clear line, not a stack trace from deep in app.ts.
export const SERVER_DEPENDENCIES: Record<string, string> = { fastify: '^5.12.8', 'prom-client': '^15.1.3' };

/** The server's dependencies that `resolve` cannot find. */
export function missingServerDependencies(resolve: (id: string) => string = require.resolve): string[] {
  return Object.keys(SERVER_DEPENDENCIES).filter((name) => {
    try {
      resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

export function serverDependencyError(missing: string[]): string {
  const install = missing.map((n) => `${n}@${SERVER_DEPENDENCIES[n]}`).join(' ');
  return `torch-lora serve: the HTTP server needs ${missing.join(' and ')}, optional dependencies of torch-lora that are not installed. Run: npm install ${install}`;
}

const missing = missingServerDependencies();
if (missing.length > 0) {
  console.error(serverDependencyError(missing));
  process.exit(1);
}
