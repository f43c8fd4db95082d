//! Builds the initramfs a ktstr-vm guest boots from: a newc cpio archive
//! (gzip'd or plain) holding the static guest init as `/init`, the scheduler binary
//! with its whole shared-library closure (found by reading ELF headers and
//! `/etc/ld.so.cache`, never by running anything), and user files.
//!
//! Linux unpacks concatenated archives in one initrd, so the part that
//! rarely changes is built once and cached by content ([`BaseCache`]), and
//! the small per-run part is appended to it ([`concat()`]).
//!
//! Modules: [`archive`] (the builder and writer), `include` (user files
//! and directory trees), [`elf`] (reading one ELF file), [`ldcache`] (the
//! ld.so.cache parser and writer), [`closure`] (the loader's search,
//! transitively), [`cache`] (content-addressed base archives).

pub mod archive;
pub mod cache;
pub mod closure;
pub mod elf;
mod include;
pub mod ldcache;

pub use archive::{ArchiveError, Format, Initramfs};
pub use cache::{concat, BaseCache, CacheError, CachedArchive};
pub use closure::{elf_closure, Closure, FoundVia, ResolvedLib, Resolver};
pub use elf::ElfError;
