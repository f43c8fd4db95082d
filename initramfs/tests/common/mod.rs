//! Test helpers: read an initrd back with the `cpio` crate's reader, and
//! build small C fixtures with the system compiler.

#![allow(dead_code)]

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One archive entry as the kernel would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Every entry of every archive in `initrd`, in order, trailers left out,
/// walking it as the kernel does: gzip members and plain cpio archives one
/// after another, zero padding skipped. Also returns how many archives
/// (trailers) there were.
pub fn read_initrd(initrd: &[u8]) -> (Vec<Item>, usize) {
    let (mut items, mut archives) = (Vec::new(), 0);
    let mut rest = initrd;
    while let Some(&first) = rest.first() {
        if first == 0 {
            rest = &rest[1..];
        } else if rest.starts_with(&[0x1f, 0x8b]) {
            let mut member = flate2::bufread::GzDecoder::new(rest);
            let mut raw = Vec::new();
            member.read_to_end(&mut raw).expect("gzip member decodes");
            rest = member.into_inner();
            let mut at = 0;
            while at < raw.len() {
                at += read_archive(&raw[at..], &mut items);
                archives += 1;
            }
        } else {
            let used = read_archive(rest, &mut items);
            rest = &rest[used..];
            archives += 1;
        }
    }
    (items, archives)
}

/// Reads one cpio archive up to its trailer; returns the bytes it used.
fn read_archive(data: &[u8], items: &mut Vec<Item>) -> usize {
    let mut cursor = Cursor::new(data);
    loop {
        let mut reader = cpio::newc::Reader::new(cursor).expect("cpio header");
        let e = reader.entry().clone();
        if e.is_trailer() {
            cursor = reader.finish().unwrap();
            return cursor.position() as usize;
        }
        let mut data = Vec::new();
        reader.read_to_end(&mut data).unwrap();
        items.push(Item {
            name: e.name().to_owned(),
            ino: e.ino(),
            mode: e.mode(),
            uid: e.uid(),
            gid: e.gid(),
            mtime: e.mtime(),
            rdev: (e.rdev_major(), e.rdev_minor()),
            data,
        });
        cursor = reader.finish().unwrap();
    }
}

pub fn find<'a>(items: &'a [Item], name: &str) -> &'a Item {
    items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} not in archive: {:?}", names(items)))
}

pub fn names(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.name.as_str()).collect()
}

/// Runs the C compiler (gcc is part of the kernel toolchain this project
/// needs anyway). Panics with the compiler's output on failure.
pub fn cc(dir: &Path, args: &[&str]) {
    let out = Command::new("cc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running cc: install gcc (the kernel build needs it too)");
    assert!(
        out.status.success(),
        "cc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `name.c` with `body` into `dir` and returns its path.
pub fn source(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.c"));
    std::fs::write(&p, body).unwrap();
    p
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
