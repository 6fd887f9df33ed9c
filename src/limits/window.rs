//! The gateway's rate limiting, replayed: fixed windows of one UTC minute, counted per limit
//! and principal, and the order in which requests meet them.
//!
//! A request meets the limits in force on its endpoint ([`crate::pricing::Limits::on_endpoint`])
//! the way Databricks AI Gateway documents them: an `endpoint` limit counts everyone; a limit
//! for the requester by name (key `user` or `service_principal` with its `principal`) replaces
//! the group's limits; a `user_group` limit (the request's group, or every group when it names
//! none) is shared by the group's members and replaces the per-principal defaults; the default
//! is `service_principal` without a principal for service principals that have one, else `user`
//! without a principal (each requester separately). A request is rejected (429) when a window
//! it counts in already holds `calls` requests or its tokens would take the window past
//! `tokens`; a rejected request counts in no window. Only the current minute's counts are kept.
//! Dollar budgets ([`super::budget`]) are checked beside the windows: a request over either is
//! rejected, and only an admitted request spends.

use foldhash::HashMap;

use rust_decimal::Decimal;

use super::budget::{BudgetBook, BudgetOutcome};
use crate::pricing::{EVERY_ENDPOINT, LimitKey, Limits};

/// Microseconds in a minute: the gateway's window.
pub const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;

/// A name (an endpoint, requester, group or currency) as a small number: the replay's windows,
/// budgets and totals are keyed by these, so each request hashes and compares integers, never
/// strings (10M requests are replayed in about the time of a full rollup).
pub type NameId = u32;

/// The names the replay has seen, each with its [`NameId`].
#[derive(Debug, Default, Clone)]
pub struct Names {
    ids: HashMap<String, NameId>,
    names: Vec<String>,
}

impl Names {
    /// The id of `name`, given it a new one the first time.
    pub fn id(&mut self, name: &str) -> NameId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = NameId::try_from(self.names.len()).expect("fewer than 4 billion names");
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn name(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }
}

/// One request of the history, as the replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its place in the replay (tests name requests by it).
    pub id: u64,
    /// The UTC minute it arrived in, as minutes since the Unix epoch.
    pub minute: i64,
    pub endpoint: NameId,
    pub requester: NameId,
    pub group: NameId,
    /// Its requester is a service principal (`requester_type`).
    pub service_principal: bool,
    /// Input, cache read, cache write and output tokens.
    pub tokens: u64,
    /// Its cost (`None`: unpriced) and the cost's currency.
    pub cost: Option<Decimal>,
    pub currency: Option<NameId>,
}

/// The minute (since the Unix epoch) of an instant in UTC microseconds.
pub fn minute_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_MINUTE)
}

/// What one limit has counted in the current window for one principal.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    calls: u64,
    tokens: u64,
}

/// The principal counted by an endpoint-wide window.
const WHOLE_ENDPOINT: NameId = NameId::MAX;

/// A limit of the file with its names as ids.
#[derive(Debug, Clone, Copy)]
struct IdLimit {
    /// `None`: every endpoint.
    endpoint: Option<NameId>,
    key: LimitKey,
    principal: Option<NameId>,
}

/// The limits' windows of the current minute.
struct Gateway<'a> {
    limits: &'a Limits,
    ids: Vec<IdLimit>,
    /// (index of the limit, endpoint, principal counted: requester, group, or [`WHOLE_ENDPOINT`])
    windows: HashMap<(usize, NameId, NameId), Window>,
    budgets: BudgetBook<'a>,
}

impl<'a> Gateway<'a> {
    /// The windows `request` counts in: each limit that applies to it, with whose traffic it
    /// counts.
    fn windows_of(&self, request: &Request) -> Vec<(usize, NameId)> {
        let on_endpoint =
            || self.ids.iter().enumerate().filter(move |(_, l)| l.endpoint.is_none_or(|e| e == request.endpoint));
        let mut counted: Vec<(usize, NameId)> =
            on_endpoint().filter(|(_, l)| l.key == LimitKey::Endpoint).map(|(i, _)| (i, WHOLE_ENDPOINT)).collect();
        let named = |key: LimitKey| {
            on_endpoint()
                .filter(move |(_, l)| l.key == key && l.principal == Some(request.requester))
                .map(|(i, _)| (i, request.requester))
        };
        let by_name: Vec<_> = named(LimitKey::User).chain(named(LimitKey::ServicePrincipal)).collect();
        let by_group: Vec<_> = on_endpoint()
            .filter(|(_, l)| l.key == LimitKey::UserGroup && l.principal.is_none_or(|group| group == request.group))
            .map(|(i, _)| (i, request.group))
            .collect();
        let default = |key: LimitKey| -> Vec<(usize, NameId)> {
            on_endpoint()
                .filter(|(_, l)| l.key == key && l.principal.is_none())
                .map(|(i, _)| (i, request.requester))
                .collect()
        };
        let service_principal_default =
            if request.service_principal { default(LimitKey::ServicePrincipal) } else { Vec::new() };
        let personal = [by_name, by_group, service_principal_default, default(LimitKey::User)]
            .into_iter()
            .find(|windows| !windows.is_empty())
            .unwrap_or_default();
        counted.extend(personal);
        counted
    }

    /// Counts `request` in its windows and budgets in `minute`, or returns the lines of the
    /// limits that reject it (then it counts nowhere). `final_attempt`: a rejection is final (no
    /// retry follows), so the budgets that made it count it.
    fn offer(&mut self, request: &Request, minute: i64, final_attempt: bool) -> Result<(), Vec<usize>> {
        let windows = self.windows_of(request);
        let budgets = self.budgets.applicable(request);
        let mut over = Vec::new();
        for (index, principal) in &windows {
            let limit = &self.limits.limits[*index];
            let window = self.windows.get(&(*index, request.endpoint, *principal)).copied().unwrap_or_default();
            let calls_over = limit.calls.is_some_and(|calls| window.calls >= calls);
            let tokens_over = limit.tokens.is_some_and(|tokens| window.tokens.saturating_add(request.tokens) > tokens);
            if calls_over || tokens_over {
                over.push(limit.line);
            }
        }
        over.extend(self.budgets.used_up(&budgets, minute));
        if !over.is_empty() {
            if final_attempt {
                self.budgets.rejected(request, &budgets, minute, &over);
            }
            return Err(over);
        }
        self.budgets.admitted(request, &budgets, minute);
        for (index, principal) in windows {
            let window = self.windows.entry((index, request.endpoint, principal)).or_default();
            window.calls += 1;
            window.tokens = window.tokens.saturating_add(request.tokens);
        }
        Ok(())
    }
}

/// What happened to one request (or one retry of it) in the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'r> {
    pub request: &'r Request,
    /// The window it was decided in.
    pub minute: i64,
    /// The lines of the limits that rejected it; empty: admitted.
    pub rejected_by: Vec<usize>,
    /// This is its retry, at the start of the window after its rejection.
    pub retry: bool,
    /// It was rejected and will be retried in the next window (so the rejection is not final).
    pub will_retry: bool,
}

/// Replays requests in time order: call [`Replay::push`] with each, then [`Replay::finish`].
pub struct Replay<'a> {
    gateway: Gateway<'a>,
    names: Names,
    retry_after: bool,
    minute: Option<i64>,
    /// Rejected in the current minute, to be retried once at the start of the next.
    retries: Vec<Request>,
}

impl<'a> Replay<'a> {
    /// A replay under `limits`; with `retry_after`, each rejected request is sent again once at
    /// the start of the next window.
    pub fn new(limits: &'a Limits, retry_after: bool) -> Self {
        let mut names = Names::default();
        let ids = limits
            .limits
            .iter()
            .map(|l| IdLimit {
                endpoint: (l.endpoint != EVERY_ENDPOINT).then(|| names.id(&l.endpoint)),
                key: l.key,
                principal: l.principal.as_deref().map(|p| names.id(p)),
            })
            .collect();
        let budgets = BudgetBook::new(&limits.budgets, &mut names);
        let gateway = Gateway { limits, ids, windows: HashMap::default(), budgets };
        Self { gateway, names, retry_after, minute: None, retries: Vec::new() }
    }

    /// The names of the replay: give each request's names their ids here.
    pub fn names(&mut self) -> &mut Names {
        &mut self.names
    }

    /// What each dollar budget did, per principal (call after [`Replay::finish`]), and the
    /// names of the replay.
    pub fn into_outcomes(self) -> (Vec<BudgetOutcome>, Names) {
        (self.gateway.budgets.outcomes(&self.names), self.names)
    }

    /// Offers `request` (no earlier than the ones before it) and tells `out` what happened,
    /// first to the retries of earlier minutes that come before it.
    pub fn push(&mut self, request: Request, out: &mut impl FnMut(Outcome<'_>)) {
        if self.minute != Some(request.minute) {
            self.retry_pending(out);
            if self.minute != Some(request.minute) {
                self.start(request.minute);
            }
        }
        self.decide(&request, false, out);
    }

    /// Retries what the last minute rejected; call once after the last request.
    pub fn finish(&mut self, out: &mut impl FnMut(Outcome<'_>)) {
        self.retry_pending(out);
    }

    fn start(&mut self, minute: i64) {
        self.minute = Some(minute);
        self.gateway.windows.clear();
    }

    /// The retries of the current minute's rejections, at the start of the next minute.
    fn retry_pending(&mut self, out: &mut impl FnMut(Outcome<'_>)) {
        if self.retries.is_empty() {
            return;
        }
        let next = self.minute.map_or(0, |m| m + 1);
        self.start(next);
        for request in std::mem::take(&mut self.retries) {
            self.decide(&request, true, out);
        }
    }

    fn decide(&mut self, request: &Request, retry: bool, out: &mut impl FnMut(Outcome<'_>)) {
        let minute = self.minute.unwrap_or(request.minute);
        let final_attempt = !self.retry_after || retry;
        let rejected_by = self.gateway.offer(request, minute, final_attempt).err().unwrap_or_default();
        let will_retry = !rejected_by.is_empty() && self.retry_after && !retry;
        out(Outcome { request, minute, rejected_by, retry, will_retry });
        if will_retry {
            self.retries.push(request.clone());
        }
    }
}

/// Requests written with names, replayed: what the tests of the replay and the budgets build on.
#[cfg(test)]
pub(crate) mod spec {
    use super::*;
    use rust_decimal::Decimal;

    /// A request by names (endpoint "rag", no cost, unless changed).
    #[derive(Debug, Clone)]
    pub struct Spec {
        pub id: String,
        pub minute: i64,
        pub endpoint: String,
        pub requester: String,
        pub group: String,
        pub tokens: u64,
        pub cost: Option<Decimal>,
        pub currency: Option<String>,
    }

    /// A request of `requester` (a service principal when the name starts with "sp-").
    pub fn request(id: &str, minute: i64, requester: &str, group: &str, tokens: u64) -> Spec {
        Spec {
            id: id.into(),
            minute,
            endpoint: "rag".into(),
            requester: requester.into(),
            group: group.into(),
            tokens,
            cost: None,
            currency: None,
        }
    }

    /// One outcome: (id, window, rejected, retry, will retry).
    pub type Seen = (String, i64, bool, bool, bool);

    /// Every outcome of replaying `specs` under `limits`, in order, and the budgets' outcomes.
    pub fn replay(limits: &Limits, retry_after: bool, specs: Vec<Spec>) -> (Vec<Seen>, Vec<BudgetOutcome>) {
        let mut replay = Replay::new(limits, retry_after);
        let requests: Vec<Request> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let names = replay.names();
                Request {
                    id: i as u64,
                    minute: s.minute,
                    endpoint: names.id(&s.endpoint),
                    requester: names.id(&s.requester),
                    group: names.id(&s.group),
                    service_principal: s.requester.starts_with("sp-"),
                    tokens: s.tokens,
                    cost: s.cost,
                    currency: s.currency.as_deref().map(|c| names.id(c)),
                }
            })
            .collect();
        let mut seen = Vec::new();
        let mut out = |o: Outcome<'_>| {
            let id = specs[o.request.id as usize].id.clone();
            seen.push((id, o.minute, !o.rejected_by.is_empty(), o.retry, o.will_retry))
        };
        for r in requests {
            replay.push(r, &mut out);
        }
        replay.finish(&mut out);
        (seen, replay.into_outcomes().0)
    }
}

#[cfg(test)]
mod tests {
    use super::spec::{Spec, request};
    use super::*;

    fn limits(text: &str) -> Limits {
        Limits::from_toml_str(text, "limits.toml").unwrap()
    }

    /// (id, window, rejected, retry) of every outcome, in order.
    fn replay(limits: &Limits, retry_after: bool, requests: Vec<Spec>) -> Vec<(String, i64, bool, bool)> {
        super::spec::replay(limits, retry_after, requests).0.into_iter().map(|(id, m, r, t, _)| (id, m, r, t)).collect()
    }

    fn rejected(outcomes: &[(String, i64, bool, bool)]) -> Vec<&str> {
        outcomes.iter().filter(|o| o.2).map(|o| o.0.as_str()).collect()
    }

    const USER_TPM: &str =
        "[[endpoint]]\nname = \"rag\"\n[[endpoint.limit]]\nkey = \"user\"\ntokens = 100\nrenewal_period = \"minute\"\n";

    #[test]
    fn a_token_limit_rejects_what_would_pass_it_and_the_next_minute_starts_again() {
        let l = limits(USER_TPM);
        let out = replay(
            &l,
            false,
            vec![
                request("a1", 0, "ana", "g", 60),
                request("b1", 0, "bob", "g", 90), // bob has his own window
                request("a2", 0, "ana", "g", 50), // 110 > 100: rejected, counts nothing
                request("a3", 0, "ana", "g", 40), // 100: fits exactly
                request("a4", 0, "ana", "g", 1),
                request("a5", 1, "ana", "g", 100),       // a new minute
                request("a6", 1, "ana", "g", 101 - 100), // full
            ],
        );
        assert_eq!(rejected(&out), vec!["a2", "a4", "a6"]);
    }

    #[test]
    fn a_call_limit_counts_requests() {
        let l = limits(
            "[[endpoint]]\nname = \"*\"\n[[endpoint.limit]]\nkey = \"user\"\ncalls = 2\nrenewal_period = \"minute\"\n",
        );
        let out = replay(&l, false, (0..5).map(|i| request(&format!("r{i}"), i / 3, "ana", "g", 1)).collect());
        // minute 0: r0 r1 r2 (r2 over); minute 1: r3 r4
        assert_eq!(rejected(&out), vec!["r2"]);
    }

    #[test]
    fn a_group_limit_is_shared_and_a_named_user_limit_replaces_it() {
        let l = limits(
            "[[endpoint]]\nname = \"rag\"\n\
             [[endpoint.limit]]\nkey = \"user_group\"\nprincipal = \"ds\"\ncalls = 2\nrenewal_period = \"minute\"\n\
             [[endpoint.limit]]\nkey = \"user\"\nprincipal = \"vip\"\ncalls = 5\nrenewal_period = \"minute\"\n",
        );
        let out = replay(
            &l,
            false,
            vec![
                request("ana1", 0, "ana", "ds", 1),
                request("bob1", 0, "bob", "ds", 1),
                request("ana2", 0, "ana", "ds", 1), // the group's third call
                request("vip1", 0, "vip", "ds", 1), // vip's own limit, not the group's
                request("vip2", 0, "vip", "ds", 1),
                request("cat1", 0, "cat", "other", 1), // no limit for her group
                request("cat2", 0, "cat", "other", 1),
                request("cat3", 0, "cat", "other", 1),
            ],
        );
        assert_eq!(rejected(&out), vec!["ana2"]);
    }

    #[test]
    fn an_endpoint_limit_caps_everyone_and_service_principals_have_their_default() {
        let l = limits(
            "[[endpoint]]\nname = \"rag\"\n\
             [[endpoint.limit]]\ncalls = 3\nrenewal_period = \"minute\"\n\
             [[endpoint.limit]]\nkey = \"service_principal\"\ncalls = 1\nrenewal_period = \"minute\"\n\
             [[endpoint.limit]]\nkey = \"user\"\ncalls = 2\nrenewal_period = \"minute\"\n",
        );
        let out = replay(
            &l,
            false,
            vec![
                request("sp1", 0, "sp-etl", "g", 1),
                request("sp2", 0, "sp-etl", "g", 1), // the service principals' default: 1
                request("ana1", 0, "ana", "g", 1),
                request("ana2", 0, "ana", "g", 1),
                request("bob1", 0, "bob", "g", 1), // the endpoint's fourth call
            ],
        );
        assert_eq!(rejected(&out), vec!["sp2", "bob1"]);
    }

    #[test]
    fn retry_after_sends_a_rejected_request_once_at_the_start_of_the_next_minute() {
        let l = limits(USER_TPM);
        let requests = vec![
            request("a1", 0, "ana", "g", 80),
            request("a2", 0, "ana", "g", 30), // rejected; retried first thing in minute 1
            request("a3", 1, "ana", "g", 60), // after the retry: 30 + 60 fits
            request("a4", 1, "ana", "g", 20), // 110: rejected; retried in minute 2
            request("a5", 5, "ana", "g", 90), // minute 5
            request("a6", 5, "ana", "g", 90), // rejected, retried in minute 6 ...
            request("a7", 5, "ana", "g", 200), // ... and this too, rejected again then: final
            request("a8", 9, "ana", "g", 10), // no third try of a7 comes before it
        ];
        let out = replay(&l, true, requests.clone());
        let expected: Vec<(String, i64, bool, bool)> = [
            ("a1", 0, false, false),
            ("a2", 0, true, false),
            ("a2", 1, false, true),
            ("a3", 1, false, false),
            ("a4", 1, true, false),
            ("a4", 2, false, true),
            ("a5", 5, false, false),
            ("a6", 5, true, false),
            ("a7", 5, true, false),
            ("a6", 6, false, true),
            ("a7", 6, true, true),
            ("a8", 9, false, false),
        ]
        .iter()
        .map(|(id, m, r, t)| (id.to_string(), *m, *r, *t))
        .collect();
        assert_eq!(out, expected);
        // without it, the rejections are final, and minute 1 has room for a4 (no retry took it)
        assert_eq!(rejected(&replay(&l, false, requests)), vec!["a2", "a6", "a7"]);
    }

    #[test]
    fn minutes_are_utc_minutes_since_the_epoch() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999_999), 0);
        assert_eq!(minute_of(60_000_000), 1);
        assert_eq!(minute_of(-1), -1);
    }
}
