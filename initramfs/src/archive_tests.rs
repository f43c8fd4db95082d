use super::*;

#[test]
fn guest_path_table() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("/init", Ok("init")),
        ("/usr//lib/", Ok("usr/lib")),
        ("/a/./b", Ok("a/b")),
        ("init", Err("must be absolute")),
        ("/a/../b", Err("must not contain . or .. components")),
        ("/", Err("the root directory always exists")),
        ("/a\0b", Err("contains a NUL byte")),
    ];
    for (input, want) in cases {
        let got = archive_name(input).map_err(|e| match e {
            ArchiveError::BadGuestPath { reason, .. } => reason,
            other => panic!("{input}: {other}"),
        });
        assert_eq!(got.as_deref(), want.as_deref(), "{input}");
    }
}
