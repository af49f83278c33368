//! The parts of the `fiscus` command line that read outside input, as a library: commit files
//! (`record`), CSV imports (`import`), what makes two events the same (`identity`) and the failures
//! they report (`fail`). The binary (`src/main.rs`) and the fuzz targets (`fuzz/`) share them.

pub mod fail;
pub mod files;
pub mod identity;
pub mod import;
pub mod record;
