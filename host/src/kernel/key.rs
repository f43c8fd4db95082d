//! The cache key of a built kernel: sha256 over everything that decides the
//! result, so the same inputs find the same entry and any change makes a new one.
//!
//! Inputs: [`BUILDER_VERSION`] (bump it when the build steps change), the
//! source identity (see [`super::source`]), and each fragment's name and text
//! in merge order. Every field is length-prefixed so no two input lists hash
//! alike by concatenation.

use sha2::{Digest, Sha256};

use super::fragment::Fragment;

/// Changes whenever the way a kernel is configured, built or stored changes.
pub const BUILDER_VERSION: &str = "ktstr-vm-kernel-builder/1";

/// Length of the short key shown in listings (a unique prefix resolves too).
pub const SHORT_KEY_LEN: usize = 12;

/// The full hex cache key.
pub fn cache_key(source_identity: &str, fragments: &[Fragment]) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(BUILDER_VERSION.as_bytes());
    field(source_identity.as_bytes());
    for f in fragments {
        field(f.name.as_bytes());
        field(f.text.as_bytes());
    }
    hex(&h.finalize())
}

/// A digest of a fragment list alone (names and texts in order): recorded
/// in `meta.json`, so a lookup by version and variant only takes entries
/// built from the fragments this binary has.
pub fn fragments_digest(fragments: &[Fragment]) -> String {
    cache_key("", fragments)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a byte string, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(texts: &[(&str, &str)]) -> Vec<Fragment> {
        texts.iter().map(|(n, t)| Fragment::new(*n, *t)).collect()
    }

    #[test]
    fn same_inputs_same_key() {
        let a = cache_key("tarball:abc", &frags(&[("base", "CONFIG_A=y\n")]));
        let b = cache_key("tarball:abc", &frags(&[("base", "CONFIG_A=y\n")]));
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn any_changed_input_changes_the_key() {
        let base = cache_key("tarball:abc", &frags(&[("base", "CONFIG_A=y\n")]));
        let variants = [
            cache_key("tarball:abd", &frags(&[("base", "CONFIG_A=y\n")])),
            cache_key("tarball:abc", &frags(&[("base", "CONFIG_A=n\n")])),
            cache_key("tarball:abc", &frags(&[("other", "CONFIG_A=y\n")])),
            cache_key(
                "tarball:abc",
                &frags(&[("base", "CONFIG_A=y\n"), ("x", "")]),
            ),
            // Moving bytes between fields must not collide.
            cache_key("tarball:abc", &frags(&[("bas", "eCONFIG_A=y\n")])),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }

    #[test]
    fn fragment_order_matters() {
        let ab = cache_key(
            "s",
            &frags(&[("a", "CONFIG_X=y"), ("b", "# CONFIG_X is not set")]),
        );
        let ba = cache_key(
            "s",
            &frags(&[("b", "# CONFIG_X is not set"), ("a", "CONFIG_X=y")]),
        );
        assert_ne!(ab, ba);
    }

    #[test]
    fn fragments_digest_follows_fragments_not_the_source() {
        let a = frags(&[("base", "CONFIG_A=y\n")]);
        let b = frags(&[("base", "CONFIG_A=y\n"), ("debug", "CONFIG_B=y\n")]);
        assert_eq!(fragments_digest(&a), fragments_digest(&a.clone()));
        assert_ne!(fragments_digest(&a), fragments_digest(&b));
        // The digest is not a key: it leaves the source out.
        assert_ne!(fragments_digest(&a), cache_key("tarball:sha256:x", &a));
        assert_eq!(fragments_digest(&a), cache_key("", &a));
    }
}
