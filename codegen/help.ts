/**
 * The `troupe` command's help text. Its own module, loaded without the code generator, so
 * `troupe --help` answers without loading a TypeScript compiler.
 */
import { GENERATOR_VERSION } from './version.js';

export const HELP = `troupe ${GENERATOR_VERSION} - run replicas, generate stubs, IDL tools

Usage:
  troupe serve <service.js> [--port N] [--seeds host:port,...] [--key-file PATH | --insecure] ...
      Run one replica of the decorated service the module exports (see troupe serve --help).
  troupe keygen [PATH]
      Write a fresh 32-byte group key (hex, mode 0600) to PATH (default troupe.key).
  troupe trace <requestId> --group G --seeds host:port,... (--key-file PATH | --insecure)
      Print where a request went in a live group (contact, order, each replica's apply).
  troupe status --group G --seeds host:port,... (--key-file PATH | --insecure)
      Print each member's view, applied count and health (docs/observability.md).
  troupe dist <path...> --to <group> --seeds host:port,... | troupe dist receive --dir D --to <group>
      Push files to every receiver at once over adaptive multicast (AFDP; docs/protocol.md).
  troupe gen [--config troupe.json] [--check]
      Generate every target listed in troupe.json.
  troupe gen <file.ts>... --out <dir> [--project tsconfig.json] [--allow-any] [--check]
      Extract @Service classes from source files and generate IDL, client stub and model.
  troupe gen --idl <file.troupe.idl> --out <dir> [--check]
      Generate the client stub and model from an IDL file alone (no server source).
  troupe idl fmt <file.troupe.idl>... [--write | --check]
      Print the canonical form (or rewrite the files, or only check them).
  troupe idl diff <old.troupe.idl> <new.troupe.idl>
      List changes, each compatible or breaking.

Options:
  --check     Generate in memory and compare with the files on disk; list stale ones
              (only files generated from this invocation's sources; see docs/idl.md).
  --debug     Print stack traces of errors.
  --help      Show this help.     --version   Show the version.

Exit codes: 0 ok, 1 check failed (stale files, breaking change, unformatted IDL),
            2 usage error, 3 input error (syntax, extraction, missing file), 4 internal error.`;
