//! Dollar budgets, replayed: each principal's spend per calendar UTC hour, day or month,
//! counted from the priced requests' cost in the budget's currency.
//!
//! LiteLLM's semantics, which the gateways that enforce dollar budgets share: the budget is
//! checked before the request, against what has been spent so far in the period, and a request
//! is rejected once `spent >= budget` (LiteLLM's `max_budget_limiter` pre-call hook; its
//! "Budget exceeded errors" page: "rejects it before it calls the provider ... so the refusal
//! costs nothing"). The request that takes the spend past the budget therefore goes through: its
//! cost is known only once it is answered. A soft budget (`soft_budget`) never rejects; it
//! reports when it was crossed and what was spent beyond it.
//!
//! Who a budget counts: `user_group` the request's group (shared by its members); `user` each
//! requester who is not a service principal; `service_principal` each service principal; a
//! budget naming its principal counts that one only. Every budget a request falls under applies
//! (LiteLLM checks them all). A request without a price, or priced in another currency, cannot
//! be counted against the budget: it is let through and reported as not counted, never taken as
//! free.

use foldhash::HashMap;

use chrono::Datelike;
use rust_decimal::Decimal;

use super::window::{NameId, Names, Request};
use crate::pricing::{BudgetWindow, Enforcement, LimitKey, SpendBudget};

/// What one dollar budget did to one principal over the range.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetOutcome {
    pub budget: SpendBudget,
    /// The requester or group it counted.
    pub principal: String,
    /// Spend it counted (requests admitted), over the whole range.
    pub spent: Decimal,
    /// The most spent in one period.
    pub peak_period_spent: Decimal,
    /// Periods in which the principal sent requests under it, and in which it was used up.
    pub periods: u64,
    pub periods_used_up: u64,
    /// When it was first used up: the UTC minute of the request that took it to the budget.
    pub first_used_up_at: Option<String>,
    /// Requests it rejected for good (hard budgets), and their cost.
    pub rejected_requests: u64,
    pub spend_avoided: Decimal,
    /// Soft budgets: spend beyond the budget, summed over the periods.
    pub over_budget: Decimal,
    /// Requests under it without a price, or priced in another currency: not counted.
    pub not_counted: u64,
}

/// A budget's names as ids.
struct IdBudget {
    endpoint: Option<NameId>,
    principal: Option<NameId>,
    currency: NameId,
}

/// One principal's count under one budget: the current period's spend.
struct Account {
    period: i64,
    spent: Decimal,
    outcome: BudgetOutcome,
}

/// The budgets' accounts; one per budget and principal, so memory grows with the principals,
/// never with the requests.
pub(crate) struct BudgetBook<'a> {
    budgets: &'a [SpendBudget],
    ids: Vec<IdBudget>,
    accounts: HashMap<(usize, NameId), Account>,
}

/// The period `minute` (minutes since the Unix epoch, UTC) falls in: hours or days since the
/// epoch, or months since year 0.
pub fn period_of(window: BudgetWindow, minute: i64) -> i64 {
    match window {
        BudgetWindow::Hour => minute.div_euclid(60),
        BudgetWindow::Day => minute.div_euclid(24 * 60),
        BudgetWindow::Month => {
            let date = chrono::DateTime::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default();
            i64::from(date.year()) * 12 + i64::from(date.month0())
        }
    }
}

/// A minute since the epoch as `2025-01-20T14:03Z`.
pub fn minute_text(minute: i64) -> String {
    chrono::DateTime::from_timestamp(minute.saturating_mul(60), 0)
        .map_or_else(|| minute.to_string(), |t| t.format("%Y-%m-%dT%H:%MZ").to_string())
}

impl<'a> BudgetBook<'a> {
    /// The book of `budgets`, their names given ids in `names`.
    pub fn new(budgets: &'a [SpendBudget], names: &mut Names) -> Self {
        let ids = budgets
            .iter()
            .map(|b| IdBudget {
                endpoint: b.endpoint.as_deref().map(|e| names.id(e)),
                principal: b.principal.as_deref().map(|p| names.id(p)),
                currency: names.id(&b.currency),
            })
            .collect();
        Self { budgets, ids, accounts: HashMap::default() }
    }

    /// The budgets `request` falls under, with the principal each counts.
    pub fn applicable(&self, request: &Request) -> Vec<(usize, NameId)> {
        if self.budgets.is_empty() {
            return Vec::new();
        }
        self.budgets
            .iter()
            .zip(&self.ids)
            .enumerate()
            .filter(|(_, (_, ids))| ids.endpoint.is_none_or(|e| e == request.endpoint))
            .filter_map(|(i, (b, ids))| {
                let named = |who: NameId| ids.principal.is_none_or(|p| p == who);
                let counted = match b.key {
                    LimitKey::UserGroup => named(request.group).then_some(request.group),
                    LimitKey::ServicePrincipal => {
                        (request.service_principal && named(request.requester)).then_some(request.requester)
                    }
                    LimitKey::User => {
                        let applies = match ids.principal {
                            Some(p) => p == request.requester,
                            None => !request.service_principal,
                        };
                        applies.then_some(request.requester)
                    }
                    LimitKey::Endpoint => None,
                };
                counted.map(|who| (i, who))
            })
            .collect()
    }

    fn account(&mut self, &(index, who): &(usize, NameId), minute: i64) -> &mut Account {
        let budget = &self.budgets[index];
        let period = period_of(budget.renewal_period, minute);
        let account = self.accounts.entry((index, who)).or_insert_with(|| Account {
            period: i64::MIN,
            spent: Decimal::ZERO,
            outcome: BudgetOutcome {
                budget: budget.clone(),
                // the name is filled in by `outcomes`
                principal: String::new(),
                spent: Decimal::ZERO,
                peak_period_spent: Decimal::ZERO,
                periods: 0,
                periods_used_up: 0,
                first_used_up_at: None,
                rejected_requests: 0,
                spend_avoided: Decimal::ZERO,
                over_budget: Decimal::ZERO,
                not_counted: 0,
            },
        });
        if account.period != period {
            account.period = period;
            account.spent = Decimal::ZERO;
            account.outcome.periods += 1;
        }
        account
    }

    /// The lines of the hard budgets among `applicable` already used up in `minute`'s period.
    pub fn used_up(&mut self, applicable: &[(usize, NameId)], minute: i64) -> Vec<usize> {
        let mut lines = Vec::new();
        for counted in applicable {
            let budget = &self.budgets[counted.0];
            let (hard, amount, line) = (budget.enforcement == Enforcement::Hard, budget.amount, budget.line);
            if hard && self.account(counted, minute).spent >= amount {
                lines.push(line);
            }
        }
        lines
    }

    /// `request` was rejected for good, by the limits on `lines`.
    pub fn rejected(&mut self, request: &Request, applicable: &[(usize, NameId)], minute: i64, lines: &[usize]) {
        for counted in applicable.iter().filter(|(i, _)| lines.contains(&self.budgets[*i].line)) {
            let currency = self.ids[counted.0].currency;
            let outcome = &mut self.account(counted, minute).outcome;
            outcome.rejected_requests += 1;
            match (&request.cost, &request.currency) {
                (Some(cost), Some(c)) if *c == currency => outcome.spend_avoided += cost,
                _ => outcome.not_counted += 1,
            }
        }
    }

    /// `request` was admitted: its cost counts against every budget it falls under.
    pub fn admitted(&mut self, request: &Request, applicable: &[(usize, NameId)], minute: i64) {
        for counted in applicable {
            let (amount, currency) = (self.budgets[counted.0].amount, self.ids[counted.0].currency);
            let account = self.account(counted, minute);
            let cost = match (&request.cost, &request.currency) {
                (Some(cost), Some(c)) if *c == currency => *cost,
                _ => {
                    account.outcome.not_counted += 1;
                    continue;
                }
            };
            let before = account.spent;
            account.spent += cost;
            let outcome = &mut account.outcome;
            outcome.spent += cost;
            outcome.peak_period_spent = outcome.peak_period_spent.max(account.spent);
            if before < amount && account.spent >= amount {
                outcome.periods_used_up += 1;
                outcome.first_used_up_at.get_or_insert_with(|| minute_text(minute));
            }
            if account.spent > amount {
                outcome.over_budget += account.spent - before.max(amount);
            }
        }
    }

    /// Every budget's outcome per principal, in file order, then by principal.
    pub fn outcomes(&self, names: &Names) -> Vec<BudgetOutcome> {
        let mut outcomes: Vec<(usize, BudgetOutcome)> = self
            .accounts
            .iter()
            .map(|(&(index, who), a)| {
                (index, BudgetOutcome { principal: names.name(who).to_string(), ..a.outcome.clone() })
            })
            .collect();
        outcomes.sort_by(|a, b| (a.0, &a.1.principal).cmp(&(b.0, &b.1.principal)));
        outcomes.into_iter().map(|(_, o)| o).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::window::spec::{self, Spec};
    use crate::pricing::Limits;

    const MINUTES_PER_DAY: i64 = 24 * 60;

    /// 2025-01-01T00:00Z in minutes since the epoch.
    fn january_first() -> i64 {
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() / 60
    }

    fn request(id: &str, minute: i64, requester: &str, group: &str, cost: &str) -> Spec {
        Spec {
            cost: Some(cost.parse().unwrap()),
            currency: Some("USD".into()),
            ..spec::request(id, minute, requester, group, 10)
        }
    }

    /// The ids rejected for good, and the budgets' outcomes.
    fn replay(limits: &str, requests: Vec<Spec>) -> (Vec<String>, Vec<BudgetOutcome>) {
        let limits = Limits::from_toml_str(limits, "limits.toml").unwrap();
        let (seen, outcomes) = spec::replay(&limits, false, requests);
        (seen.into_iter().filter(|s| s.2 && !s.4).map(|s| s.0).collect(), outcomes)
    }

    #[test]
    fn a_monthly_budget_used_up_on_the_20th_rejects_the_rest_of_the_month() {
        // One request a day at 1.00 USD, all of January and the first days of February. The
        // budget is 19.50: after the 19th, 19.00 is spent, under it, so the 20th's request goes
        // through (its cost is known only after it) and takes the spend to 20.00; the 21st to
        // the 31st (11 requests) are rejected; February starts again.
        let budget = "[[budget]]\nkey = \"user_group\"\nprincipal = \"search\"\nbudget = \"19.50 USD\"\n\
                      renewal_period = \"month\"\n";
        let day = |d: i64| january_first() + (d - 1) * MINUTES_PER_DAY + 9 * 60;
        let mut requests: Vec<Spec> =
            (1..=34).map(|d| request(&format!("d{d}"), day(d), "ana", "search", "1.00")).collect();
        requests.push(request("other", day(25), "bob", "support", "5.00")); // another group
        let (rejected, outcomes) = replay(budget, requests);
        let expected: Vec<String> = (21..=31).map(|d| format!("d{d}")).collect();
        assert_eq!(rejected, expected);
        assert_eq!(outcomes.len(), 1);
        let o = &outcomes[0];
        assert_eq!(o.principal, "search");
        assert_eq!(o.first_used_up_at.as_deref(), Some("2025-01-20T09:00Z"));
        assert_eq!((o.periods, o.periods_used_up, o.rejected_requests), (2, 1, 11));
        assert_eq!(o.spend_avoided, Decimal::new(1100, 2));
        assert_eq!(o.spent, Decimal::new(2300, 2)); // 20 in January, 3 in February
        assert_eq!(o.peak_period_spent, Decimal::new(2000, 2));
        assert_eq!(o.over_budget, Decimal::new(50, 2)); // the 20th's request went 0.50 past it
    }

    #[test]
    fn a_soft_budget_rejects_nothing_and_says_when_it_was_crossed() {
        let budget =
            "[[budget]]\nkey = \"user\"\nbudget = \"2.00 USD\"\nrenewal_period = \"day\"\nenforcement = \"soft\"\n";
        let t = january_first();
        let requests = vec![
            request("a1", t, "ana", "g", "1.50"),
            request("a2", t + 5, "ana", "g", "1.00"), // crosses: 2.50
            request("a3", t + 6, "ana", "g", "1.00"), // 1.00 more beyond it
            request("a4", t + MINUTES_PER_DAY, "ana", "g", "1.99"), // the next day: under
            request("s1", t + 7, "sp-etl", "g", "9.00"), // a service principal: not a `user`
        ];
        let (rejected, outcomes) = replay(budget, requests);
        assert!(rejected.is_empty());
        assert_eq!(outcomes.len(), 1);
        let o = &outcomes[0];
        assert_eq!((o.principal.as_str(), o.periods, o.periods_used_up), ("ana", 2, 1));
        assert_eq!(o.first_used_up_at.as_deref(), Some("2025-01-01T00:05Z"));
        assert_eq!(o.over_budget, Decimal::new(150, 2));
        assert_eq!(o.spent, Decimal::new(549, 2));
    }

    #[test]
    fn a_budget_counts_only_its_currency_and_its_endpoint_and_says_what_it_could_not_count() {
        let budget = "[[budget]]\nkey = \"user\"\nprincipal = \"ana\"\nbudget = \"1.00 USD\"\nrenewal_period = \"hour\"\n\
                      endpoint = \"rag\"\n";
        let t = january_first();
        let mut unpriced = request("u", t, "ana", "g", "0");
        unpriced.cost = None;
        let mut euro = request("e", t, "ana", "g", "5.00");
        euro.currency = Some("EUR".into());
        let mut elsewhere = request("x", t, "ana", "g", "5.00");
        elsewhere.endpoint = "chat".into();
        let requests = vec![
            unpriced,
            euro,
            elsewhere,
            request("a1", t + 1, "ana", "g", "1.00"),  // used up exactly
            request("a2", t + 2, "ana", "g", "0.01"),  // spent >= budget: rejected
            request("a3", t + 60, "ana", "g", "0.01"), // the next hour
        ];
        let (rejected, outcomes) = replay(budget, requests);
        assert_eq!(rejected, vec!["a2"]);
        let o = &outcomes[0];
        assert_eq!((o.not_counted, o.rejected_requests, o.periods), (2, 1, 2));
        assert_eq!(o.spent, Decimal::new(101, 2));
        assert_eq!(o.over_budget, Decimal::ZERO);
    }

    #[test]
    fn periods_are_calendar_utc_hours_days_and_months() {
        let t = january_first();
        assert_eq!(period_of(BudgetWindow::Hour, t + 59), period_of(BudgetWindow::Hour, t));
        assert_ne!(period_of(BudgetWindow::Hour, t + 60), period_of(BudgetWindow::Hour, t));
        assert_eq!(period_of(BudgetWindow::Day, t + MINUTES_PER_DAY - 1), period_of(BudgetWindow::Day, t));
        let jan31 = t + 30 * MINUTES_PER_DAY + 23 * 60 + 59;
        assert_eq!(period_of(BudgetWindow::Month, jan31), period_of(BudgetWindow::Month, t));
        assert_eq!(period_of(BudgetWindow::Month, jan31 + 1), period_of(BudgetWindow::Month, t) + 1);
        assert_eq!(minute_text(jan31), "2025-01-31T23:59Z");
    }
}
