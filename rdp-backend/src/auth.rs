//! Who may in: the login check, the back-off after failed logins, and whether a session that
//! logged in may take the live one over. Pure decisions; the session and the server act on them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::tls::constant_time_eq;
use crate::{Credentials, Takeover};

/// The delay after the first failed login from an address; it doubles with each further one.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// An address with no failed login for this long starts again at `FIRST_DELAY`.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// The user a session logged in as, or why it may not log in.
pub(crate) fn check_login(
    expected: Option<&Credentials>,
    given: Option<&ironrdp_pdu::rdp::client_info::Credentials>,
) -> Result<String, String> {
    let (user, pass) = given.map(|c| (c.username.as_str(), c.password.as_str())).unwrap_or_default();
    let Some(expected) = expected else { return Ok(user.to_owned()) };
    // Both compared, always, so the time taken does not say which one was wrong.
    let user_ok = expected.username.as_deref().is_none_or(|want| {
        constant_time_eq(user.to_ascii_lowercase().as_bytes(), want.to_ascii_lowercase().as_bytes())
    });
    let pass_ok = constant_time_eq(pass.as_bytes(), expected.password.as_bytes());
    if user_ok & pass_ok {
        Ok(user.to_owned())
    } else {
        Err(format!("wrong user name or password (user {user:?})"))
    }
}

/// What NTLM checks an NLA login against: the configured password for the user name the
/// client gave, when that name may log in (any name when none is configured). NTLM hashes the
/// name as given (upper-cased, with the client's domain), so the identity handed back keeps
/// the client's spelling and only the password is wayrail's.
pub(crate) struct NtlmLogin<'a>(pub &'a Credentials);

impl ironrdp_connector::sspi::credssp::CredentialsProxy for NtlmLogin<'_> {
    type AuthenticationData = ironrdp_connector::sspi::AuthIdentity;

    fn auth_data_by_user(
        &mut self,
        username: &ironrdp_connector::sspi::Username,
    ) -> std::io::Result<Self::AuthenticationData> {
        if let Some(want) = &self.0.username {
            if !username.account_name().eq_ignore_ascii_case(want) {
                return Err(std::io::Error::other(format!("unknown user {:?}", username.account_name())));
            }
        }
        Ok(ironrdp_connector::sspi::AuthIdentity {
            username: username.clone(),
            password: self.0.password.clone().into(),
        })
    }

    /// Only Negotiate asks for every identity up front; wayrail's NLA is plain NTLM.
    fn auth_data(&mut self) -> std::io::Result<Vec<Self::AuthenticationData>> {
        Err(std::io::Error::other("NTLM asks for one user's credentials"))
    }
}

/// Whether a session that logged in as `new_user` may replace the live one of `live_user`.
pub(crate) fn may_take_over(policy: Takeover, live_user: &str, new_user: &str) -> bool {
    match policy {
        Takeover::Any => true,
        Takeover::Never => false,
        Takeover::SameUser => live_user.eq_ignore_ascii_case(new_user),
    }
}

/// The address part of a peer (`1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `[::1]`); other
/// transports' peers as they are.
pub(crate) fn peer_address(peer: &str) -> &str {
    match peer.rsplit_once(':') {
        Some((address, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => address,
        _ => peer,
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// No login from the address is checked before this.
    next_check: Instant,
    last: Instant,
}

/// Failed logins per peer address: after each one the address waits before its next login
/// is checked, 1 s doubling up to 30 s. In memory only: a restart forgets it.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    by_address: HashMap<String, Failures>,
}

impl Backoff {
    fn delay(count: u32) -> Duration {
        FIRST_DELAY.saturating_mul(1u32 << count.saturating_sub(1).min(16)).min(MAX_DELAY)
    }

    /// When a login from `address` may be checked: now, or after its back-off. Logins waiting
    /// on one address are checked one back-off apart, so parallel guesses gain nothing.
    pub fn reserve(&mut self, address: &str, now: Instant) -> Instant {
        self.by_address.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        let Some(failures) = self.by_address.get_mut(address) else { return now };
        let at = failures.next_check.max(now);
        failures.next_check = at + Self::delay(failures.count);
        at
    }

    /// A wrong login from `address`; returns the wait before its next one is checked.
    pub fn failed(&mut self, address: &str, now: Instant) -> Duration {
        let failures =
            self.by_address.entry(address.to_owned()).or_insert(Failures { count: 0, next_check: now, last: now });
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        let delay = Self::delay(failures.count);
        failures.next_check = failures.next_check.max(now + delay);
        delay
    }

    /// A good login from `address`: it starts afresh.
    pub fn succeeded(&mut self, address: &str) {
        self.by_address.remove(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(user: &str, pass: &str) -> ironrdp_pdu::rdp::client_info::Credentials {
        ironrdp_pdu::rdp::client_info::Credentials { username: user.into(), password: pass.into(), domain: None }
    }

    #[test]
    fn logins() {
        let fixed = Credentials { username: Some("Alice".into()), password: "s3cret".into() };
        assert_eq!(check_login(Some(&fixed), Some(&given("alice", "s3cret"))), Ok("alice".into()));
        assert!(check_login(Some(&fixed), Some(&given("alice", "S3cret"))).is_err());
        assert!(check_login(Some(&fixed), Some(&given("bob", "s3cret"))).is_err());
        assert!(check_login(Some(&fixed), None).is_err());
        let any_name = Credentials { username: None, password: "s3cret".into() };
        assert_eq!(check_login(Some(&any_name), Some(&given("bob", "s3cret"))), Ok("bob".into()));
        assert!(check_login(Some(&any_name), Some(&given("bob", ""))).is_err());
        assert!(check_login(Some(&any_name), None).is_err());
        assert_eq!(check_login(None, Some(&given("eve", "x"))), Ok("eve".into()));
        assert_eq!(check_login(None, None), Ok(String::new()));
    }

    #[test]
    fn takeover_policies() {
        assert!(may_take_over(Takeover::SameUser, "alice", "ALICE"));
        assert!(!may_take_over(Takeover::SameUser, "alice", "bob"));
        assert!(!may_take_over(Takeover::Never, "alice", "alice"));
        assert!(may_take_over(Takeover::Any, "alice", "bob"));
    }

    #[test]
    fn peer_addresses() {
        assert_eq!(peer_address("10.0.0.7:51234"), "10.0.0.7");
        assert_eq!(peer_address("[::1]:3389"), "[::1]");
        assert_eq!(peer_address("unix"), "unix");
        assert_eq!(peer_address("vsock:3:1234"), "vsock:3");
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_is_per_address() {
        let mut backoff = Backoff::default();
        let t0 = Instant::now();
        assert_eq!(backoff.reserve("a", t0), t0, "no failures: checked at once");
        let delays: Vec<u64> = (0..7).map(|_| backoff.failed("a", t0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff.reserve("b", t0), t0, "another address is not slowed");
        // Two logins waiting on "a": the second one a whole delay after the first.
        let first = backoff.reserve("a", t0);
        let second = backoff.reserve("a", t0);
        assert!(first >= t0 + Duration::from_secs(30));
        assert_eq!(second - first, Duration::from_secs(30));
        backoff.succeeded("a");
        assert_eq!(backoff.reserve("a", t0), t0, "a good login starts afresh");
        backoff.failed("c", t0);
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(backoff.reserve("c", later), later, "old failures are forgotten");
    }
}
