//! Fixture API keys. The platform's behaviour is chosen by the bearer token alone, so a test
//! picks a scenario just by choosing which of these keys the CLI is given.

/// The contract's own example key: introspection returns the contract's example `KeyInfo`.
pub const VALID: &str = "flux_dev_abc123def456ghi789jkl012mno34";
/// Rejected with `401 key_expired`; its expiry lies [`EXPIRED_DAYS_AGO`] days in the past.
pub const EXPIRED: &str = "flux_prod_expired9Xq4Lm7Vt2Rb8Nc5Wd3Hk6Jp1";
/// Always rejected with `401 key_revoked`.
pub const REVOKED: &str = "flux_test_revoked4Hs8Kd2Mq6Wx9Zt3Lp7Cv5Bn1Ry";
/// Introspection works, but whoami and revocation are refused with `403 permission_denied`.
pub const READ_ONLY: &str = "flux_prod_readOnly7Gf3Jk9Pw2Qs6Xv4Tm8Ld1Nz5Hb";
/// Limited to two projects and never expires (`expires_at: null`); unlimited plan.
pub const PROJECT_SCOPED: &str = "flux_prod_scoped2Vn8Rc4Yw6Kt9Mh3Jq7Ps5Xd1Lg";
/// Carries permission names no CLI knows yet, after the five known ones.
pub const UNKNOWN_PERMISSION: &str = "flux_test_futureperms6Bt2Wq8Lz4Nk9Hd3Rv7Ms5Yc";
/// Like [`VALID`] but expires in [`EXPIRING_SOON_DAYS_REMAINING`] days.
pub const EXPIRING_SOON: &str = "flux_dev_expiringsoon3Kp9Wm5Tz2Hq8Nv4Xr6Jd1Lf";
/// Like [`EXPIRING_SOON`] with [`LAST_WARNED_DAYS_REMAINING`] days left: the last day the CLI
/// warns about the coming expiry.
pub const LAST_WARNED: &str = "flux_dev_lastwarned7Qd2Xk9Mv4Rt6Hp3Zs8Wn1Bc";
/// Like [`EXPIRING_SOON`] with [`FIRST_UNWARNED_DAYS_REMAINING`] days left: the first day the
/// CLI does not warn.
pub const FIRST_UNWARNED: &str = "flux_dev_firstquiet5Lr8Tw2Nj6Gk9Vc3Ym7Pd4Hx";
/// Valid, but the responses echo the full bearer token in an unknown `debug_echo` field, so a
/// test can prove the CLI never prints or logs response fields verbatim.
pub const ECHO: &str = "flux_test_echo8Mz3Qk7Wv2Xp9Ld4Ht6Rn1Bs5Gf7Jc";
/// Well-formed but unknown to the platform: `401 invalid_api_key`.
pub const UNKNOWN: &str = "flux_dev_unknown5Tq8Lm2Wz6Kd9Xh3Rv7Np4Bc1Gs";

/// Whole days between "now" and [`VALID`]'s expiry, as a client computing
/// `floor((expires_at - now) / 1 day)` sees it (the expiry is 23:59:59Z of that day).
pub const VALID_DAYS_REMAINING: i64 = 84;
/// Same as [`VALID_DAYS_REMAINING`], for [`EXPIRING_SOON`].
pub const EXPIRING_SOON_DAYS_REMAINING: i64 = 3;
/// Days left on [`LAST_WARNED`]; the CLI warns when fewer than 14 whole days are left.
pub const LAST_WARNED_DAYS_REMAINING: i64 = 13;
/// Days left on [`FIRST_UNWARNED`].
pub const FIRST_UNWARNED_DAYS_REMAINING: i64 = 14;
/// How long ago [`EXPIRED`] expired. The platform never serves its `KeyInfo`, so this only
/// documents the scenario.
pub const EXPIRED_DAYS_AGO: i64 = 10;

/// Every fixture key with its constant's name. Tests treat each as a secret: no 8-character
/// piece of one may show up in the CLI's output or on disk.
pub const ALL: &[(&str, &str)] = &[
    ("VALID", VALID),
    ("EXPIRED", EXPIRED),
    ("REVOKED", REVOKED),
    ("READ_ONLY", READ_ONLY),
    ("PROJECT_SCOPED", PROJECT_SCOPED),
    ("UNKNOWN_PERMISSION", UNKNOWN_PERMISSION),
    ("EXPIRING_SOON", EXPIRING_SOON),
    ("LAST_WARNED", LAST_WARNED),
    ("FIRST_UNWARNED", FIRST_UNWARNED),
    ("ECHO", ECHO),
    ("UNKNOWN", UNKNOWN),
];

/// Every fixture key with its constant's name, for the demo binary's table.
pub fn all() -> &'static [(&'static str, &'static str)] {
    ALL
}

/// The contract's key format, `flux_<lowercase env>_<20..=128 [A-Za-z0-9]>`. Exposed so tests
/// can make up well-formed keys the platform does not know.
pub fn is_well_formed(key: &str) -> bool {
    matches!(key_shape_len(key), Some(n) if n == key.len() && secret_len(key) <= 128)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Valid,
    Expired,
    Revoked,
    ReadOnly,
    ProjectScoped,
    UnknownPermission,
    /// Like `Valid`, but expires in this many whole days.
    ExpiringIn(i64),
    Echo,
}

pub(crate) fn lookup(token: &str) -> Option<Kind> {
    Some(match token {
        VALID => Kind::Valid,
        EXPIRED => Kind::Expired,
        REVOKED => Kind::Revoked,
        READ_ONLY => Kind::ReadOnly,
        PROJECT_SCOPED => Kind::ProjectScoped,
        UNKNOWN_PERMISSION => Kind::UnknownPermission,
        EXPIRING_SOON => Kind::ExpiringIn(EXPIRING_SOON_DAYS_REMAINING),
        LAST_WARNED => Kind::ExpiringIn(LAST_WARNED_DAYS_REMAINING),
        FIRST_UNWARNED => Kind::ExpiringIn(FIRST_UNWARNED_DAYS_REMAINING),
        ECHO => Kind::Echo,
        _ => return None,
    })
}

fn secret_len(key: &str) -> usize {
    key.rsplit('_').next().map_or(0, str::len)
}

/// Length of the key-shaped prefix of `s` (secret of at least 20 alphanumerics, no upper
/// bound), or `None`. Unbounded so that an over-long key in a URL is still caught.
fn key_shape_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix("flux_")?;
    let env = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    if env == 0 || rest.as_bytes().get(env) != Some(&b'_') {
        return None;
    }
    let secret = rest[env + 1..]
        .bytes()
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    (secret >= 20).then_some(5 + env + 1 + secret)
}

/// Byte ranges of every key-shaped substring, used both to refuse keys in URLs and to keep
/// them out of the request log.
pub(crate) fn key_shaped_ranges(s: &str) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = s[from..].find("flux_") {
        let start = from + pos;
        match key_shape_len(&s[start..]) {
            Some(len) => {
                found.push(start..start + len);
                from = start + len;
            }
            None => from = start + 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_check_follows_the_contract() {
        assert!(is_well_formed(VALID));
        assert!(is_well_formed(&format!("flux_prod_{}", "a".repeat(128))));
        assert!(!is_well_formed(&format!("flux_prod_{}", "a".repeat(129))));
        assert!(!is_well_formed(&format!("flux_prod_{}", "a".repeat(19))));
        assert!(!is_well_formed("flux_Dev_abc123def456ghi789jkl012"));
        assert!(!is_well_formed("flux__abc123def456ghi789jkl012"));
        assert!(!is_well_formed("flux_dev_abc123def456ghi789jkl012 "));
        assert!(!is_well_formed("xflux_dev_abc123def456ghi789jkl012"));
    }

    #[test]
    fn finds_keys_inside_other_text() {
        let text = format!("/x?a=flux_&key={VALID}&b=flux_dev_short");
        let ranges = key_shaped_ranges(&text);
        assert_eq!(ranges.len(), 1);
        assert_eq!(&text[ranges[0].clone()], VALID);
    }

    #[test]
    fn lookup_knows_every_fixture_but_unknown() {
        for (name, key) in all() {
            assert_eq!(lookup(key).is_none(), *name == "UNKNOWN", "{name}");
        }
    }
}
