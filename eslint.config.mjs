// ESLint (flat config) for the TypeScript sources (`npm run lint`; CI runs it after the tests). One import style: ES
// `import` everywhere, `import type` for what is used only as a type, Node's built-ins as 'node:fs' (never bare
// 'fs'); require() only where a module must be loaded at run time, each such place marked with an eslint-disable
// line that says why (lib/native.ts, whose one job is loading the addon, is exempt as a whole).
// The plain .js files (scripts/, the test rank scripts, tools/) are CommonJS by design and not linted here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/[/]/g, '\\/'));

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build/',
      'build-*/',
      'node_modules/',
      '.venv/',
      'bench/results/',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-require-imports': 'error',
      // `import type` for imports used only as types: the reader sees what is needed at run time (and the import
      // graph test what loads what).
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(${NODE_BUILTINS.join('|')})$`,
              message: "import Node's built-ins with the node: prefix ('node:fs')",
            },
          ],
        },
      ],
      // A leading underscore marks what is left unused on purpose (rest-destructuring to drop keys, ignored args).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
          caughtErrors: 'none',
        },
      ],
      // `let { a, b = [] } = x` where only some are reassigned stays one declaration.
      'prefer-const': ['error', { destructuring: 'all' }],
    },
  },
  { files: ['lib/native.ts'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
