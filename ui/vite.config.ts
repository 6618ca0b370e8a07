/// <reference types="vitest/config" />
import { paraglideVitePlugin } from '@inlang/paraglide-js';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The UI is loaded by Tauri from `ui/dist` (relative paths, so `base: './'`).
// `npm run dev` serves it on 1420 for `tauri dev` (devUrl http://localhost:1420).
export default defineConfig({
  base: './',
  plugins: [
    // Compiles messages/*.json into src/paraglide (git-ignored) for `vite`,
    // `vite build` and vitest, with the same options as `npm run i18n`
    // (which `npm run check` runs first).
    paraglideVitePlugin({
      project: here('./project.inlang'),
      outdir: here('./src/paraglide'),
      // The locale is src/lib/i18n.svelte.ts's $state (overwriteGetLocale):
      // no cookie, no URL.
      strategy: ['globalVariable', 'baseLocale'],
      emitReadme: false,
    }),
    svelte(),
  ],
  clearScreen: false,
  server: {
    host: '127.0.0.1',
    port: 1420,
    strictPort: true,
    watch: { ignored: ['**/src-tauri/**', '**/target/**'] },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK 2.40+ / WebView2 / WKWebView: all understand ES2022.
    target: 'es2022',
    // No inline <script>/<style> and no data: URLs for assets: the app's CSP is 'self' only.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'happy-dom',
    include: ['tests/unit/**/*.test.ts'],
    setupFiles: ['tests/unit/setup.ts'],
    restoreMocks: false,
  },
});
