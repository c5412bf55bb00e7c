import {fileURLToPath} from "node:url"

import {defineConfig} from "vitest/config"

// `attio/client` ships types only: Attio provides the runtime inside its sandbox. The unit tests
// run the app's code against a small stand-in (test/stubs/attio-client.tsx) that records what the
// SDK calls were made with; type-checking runs against the real SDK types.
export default defineConfig({
    resolve: {
        alias: {
            "attio/client": fileURLToPath(new URL("./test/stubs/attio-client.tsx", import.meta.url)),
        },
    },
    esbuild: {jsx: "automatic"},
    test: {environment: "node", include: ["test/**/*.test.{ts,tsx}"]},
})
