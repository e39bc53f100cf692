//! Which kernel modules a LUKS cipher needs beyond those every image carries (AES in the
//! xts, cbc and ecb modes, essiv with sha256, and AF_ALG for libcryptsetup's keyslots).
//! Pure: the names are the kernel's `crypto-*` aliases, which `modules.include` accepts,
//! so an error can tell the operator the exact line to add.

/// Block ciphers the image always carries.
const IN_IMAGE_CIPHERS: &[&str] = &["aes"];
/// Chaining modes the image always carries.
const IN_IMAGE_CHAINS: &[&str] = &["xts", "cbc", "ecb"];
/// Hashes the image always carries (for `essiv:`/`elephant:`).
const IN_IMAGE_HASHES: &[&str] = &["sha256"];

/// The `crypto-*` aliases of the parts of `cipher`-`mode` (as libcryptsetup reports them:
/// `("serpent", "xts-plain64")`, `("xchacha12,aes", "adiantum-plain64")`) that the image
/// does not carry by default; `None` when it carries them all, or when the spec is not
/// one this can take apart (`capi:` names, unexpected characters).
pub fn modules_beyond_aes(cipher: &str, mode: &str) -> Option<Vec<String>> {
    let cipher = cipher.trim().to_ascii_lowercase();
    let mode = mode.trim().to_ascii_lowercase();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    // Both end up in a console message: nothing but the characters of real specs.
    if !mode
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
    {
        return None;
    }
    let (chain, iv) = mode.split_once('-').unwrap_or((mode.as_str(), ""));
    let iv_hash = iv.split_once(':').map(|(_, h)| h).unwrap_or("");
    let ciphers: Vec<&str> = cipher.split(',').collect();
    if ciphers.iter().any(|c| !plain(c)) || !plain(chain) || !(iv_hash.is_empty() || plain(iv_hash))
    {
        return None;
    }
    let mut need = Vec::new();
    let mut add = |name: &str| {
        let alias = format!("crypto-{name}");
        if !need.contains(&alias) {
            need.push(alias);
        }
    };
    for c in ciphers {
        if !IN_IMAGE_CIPHERS.contains(&c) {
            add(c);
        }
    }
    if !IN_IMAGE_CHAINS.contains(&chain) {
        add(chain);
        if chain == "adiantum" {
            add("nhpoly1305");
        }
    }
    if !iv_hash.is_empty() && !IN_IMAGE_HASHES.contains(&iv_hash) {
        add(iv_hash);
    }
    (!need.is_empty()).then_some(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(c: &str, m: &str) -> Option<Vec<String>> {
        modules_beyond_aes(c, m)
    }

    #[test]
    fn aes_in_the_usual_modes_needs_nothing_more() {
        for mode in [
            "xts-plain64",
            "cbc-essiv:sha256",
            "ecb",
            "xts-plain",
            "cbc-plain64",
        ] {
            assert_eq!(need("aes", mode), None, "{mode}");
        }
        assert_eq!(need(" AES ", "XTS-PLAIN64"), None);
    }

    #[test]
    fn other_ciphers_modes_and_hashes_are_named() {
        assert_eq!(need("serpent", "xts-plain64").unwrap(), ["crypto-serpent"]);
        assert_eq!(
            need("camellia", "cbc-essiv:sha512").unwrap(),
            ["crypto-camellia", "crypto-sha512"]
        );
        assert_eq!(need("aes", "ctr-plain64").unwrap(), ["crypto-ctr"]);
        assert_eq!(
            need("twofish", "lrw-benbi").unwrap(),
            ["crypto-twofish", "crypto-lrw"]
        );
        assert_eq!(
            need("xchacha12,aes", "adiantum-plain64").unwrap(),
            ["crypto-xchacha12", "crypto-adiantum", "crypto-nhpoly1305"]
        );
        assert_eq!(
            need("des3_ede", "cbc-essiv:sha256").unwrap(),
            ["crypto-des3_ede"]
        );
    }

    #[test]
    fn specs_it_cannot_take_apart_give_no_advice() {
        for (c, m) in [
            ("capi:xts(aes)", "plain64"),
            ("", "xts-plain64"),
            ("aes", ""),
            ("aes\"]", "xts-plain64"),
            ("serpent", "xts-essiv:sha 256"),
            ("a,,b", "xts"),
            ("serpent\n", "xts\u{0}"),
            ("serpent", "cbc-\u{1b}[2J"),
        ] {
            assert_eq!(need(c, m), None, "{c:?} {m:?}");
        }
    }
}
