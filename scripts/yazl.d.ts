// The few parts of yazl (a zip writer that osls already brings) that the edge build uses.
declare module 'yazl' {
  import type { Readable } from 'node:stream';
  export interface Options {
    mtime?: Date;
    mode?: number;
    compress?: boolean;
    compressionLevel?: number;
  }
  export class ZipFile {
    readonly outputStream: Readable;
    addBuffer(buffer: Buffer, metadataPath: string, options?: Options): void;
    end(): void;
  }
}
