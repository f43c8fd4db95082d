use super::*;

fn rel(major: u32, minor: u32, patch: u32) -> Release {
    Release {
        major,
        minor,
        patch,
    }
}

#[test]
fn version_table() {
    let series = |major, minor| Ok(VersionRequest::Series { major, minor });
    let cases: &[(&str, Result<VersionRequest, ()>)] = &[
        ("6.13.2", Ok(VersionRequest::Exact(rel(6, 13, 2)))),
        ("6.12.117", Ok(VersionRequest::Exact(rel(6, 12, 117)))),
        ("6.13", series(6, 13)),
        ("10.0", series(10, 0)),
        ("6", Err(())),
        ("6.13.2.1", Err(())),
        ("v6.13", Err(())),
        ("6.13-rc1", Err(())),
        ("6..1", Err(())),
        ("6.+1", Err(())),
        ("6.13.", Err(())),
        ("", Err(())),
        ("99999999999.1", Err(())),
    ];
    for (text, want) in cases {
        let got = text.parse::<VersionRequest>().map_err(|e| {
            assert!(e.to_string().contains(text), "{e}");
        });
        assert_eq!(&got, want, "{text}");
    }
}

#[test]
fn release_names_and_urls() {
    let m = Mirror::new("http://127.0.0.1:8/pub/");
    assert_eq!(m.base(), "http://127.0.0.1:8/pub");
    let r = rel(6, 13, 2);
    assert_eq!(r.tarball_name(), "linux-6.13.2.tar.xz");
    assert_eq!(
        m.tarball_url(&r),
        "http://127.0.0.1:8/pub/v6.x/linux-6.13.2.tar.xz"
    );
    assert_eq!(m.sums_url(6), "http://127.0.0.1:8/pub/v6.x/sha256sums.asc");
    assert_eq!(m.releases_url(), "http://127.0.0.1:8/pub/releases.json");
    assert_eq!(
        Mirror::new(DEFAULT_MIRROR).releases_url(),
        KERNEL_ORG_RELEASES
    );
    // The first release of a series is named without its .0.
    assert_eq!(rel(6, 13, 0).tarball_name(), "linux-6.13.tar.xz");
    assert_eq!(rel(6, 13, 0).uname(), "6.13.0");
    assert_eq!(parse_tarball_name("linux-6.13.tar.xz"), Some(rel(6, 13, 0)));
    for not in [
        "linux-6.13.tar.gz",
        "linux-6.13.tar.sign",
        "patch-6.13.2.xz",
        "linux-6.14-rc1.tar.xz",
    ] {
        assert_eq!(parse_tarball_name(not), None, "{not}");
    }
}

#[test]
fn releases_json_lists_releases_only() {
    let text = r#"{"latest_stable": {"version": "6.13.2"}, "releases": [
        {"iseol": false, "version": "6.14-rc2", "moniker": "mainline"},
        {"iseol": false, "version": "6.13.2", "moniker": "stable"},
        {"iseol": false, "version": "6.12.13", "moniker": "longterm"},
        {"iseol": true, "version": "6.6", "moniker": "longterm"},
        {"iseol": false, "version": "next-20250210", "moniker": "linux-next"}
    ]}"#;
    let got = parse_releases_json(text).unwrap();
    assert_eq!(got, [rel(6, 13, 2), rel(6, 12, 13), rel(6, 6, 0)]);
    assert_eq!(newest_in(&got, 6, 12), Some(rel(6, 12, 13)));
    assert_eq!(newest_in(&got, 6, 11), None);
    assert_eq!(parse_releases_json("<html>404</html>"), None);
    assert_eq!(parse_releases_json("{}"), None);
}

#[test]
fn listing_finds_tarballs_and_the_newest_patch() {
    let html = r#"<html><head><title>Index of /pub/linux/kernel/v6.x/</title></head>
<body><h1>Index of /pub/linux/kernel/v6.x/</h1><hr><pre><a href="../">../</a>
<a href="incr/">incr/</a>                                              01-Jan-2025 00:00       -
<a href="linux-6.12.tar.xz">linux-6.12.tar.xz</a>                     17-Nov-2024 22:10    142M
<a href="linux-6.12.9.tar.xz">linux-6.12.9.tar.xz</a>                 09-Jan-2025 12:00    142M
<a href="linux-6.12.10.tar.sign">linux-6.12.10.tar.sign</a>           17-Jan-2025 12:00     991
<a href="linux-6.12.10.tar.xz">linux-6.12.10.tar.xz</a>               17-Jan-2025 12:00    142M
<a href="/pub/linux/kernel/v6.x/linux-6.13.tar.xz">x</a>
<a href="patch-6.12.10.xz">patch-6.12.10.xz</a>                       17-Jan-2025 12:00    1M
</pre><hr></body></html>"#;
    let got = parse_listing(html);
    assert_eq!(
        got,
        [rel(6, 12, 0), rel(6, 12, 9), rel(6, 12, 10), rel(6, 13, 0)]
    );
    // Numeric, not string, order: 10 > 9.
    assert_eq!(newest_in(&got, 6, 12), Some(rel(6, 12, 10)));
    assert_eq!(newest_in(&got, 6, 13), Some(rel(6, 13, 0)));
    assert!(parse_listing("no links").is_empty());
    assert!(parse_listing("<a href=\"linux-6.1.tar.xz").is_empty());
}

#[test]
fn sha256sums_table() {
    let a = "a".repeat(64);
    let b = "B".repeat(64);
    let text = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
         {a}  linux-6.13.2.tar.xz\n\
         - {b}  linux-6.13.1.tar.xz\n\
         {a} *linux-6.13.tar.xz\n\
         {a}  two words.tar.xz\n\
         short  linux-6.0.tar.xz\n\
         -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"
    );
    let sums = parse_sha256sums(&text);
    assert_eq!(sums.len(), 3, "{sums:?}");
    assert_eq!(sums["linux-6.13.2.tar.xz"], a);
    assert_eq!(sums["linux-6.13.1.tar.xz"], b.to_ascii_lowercase());
    assert_eq!(sums["linux-6.13.tar.xz"], a);
}
