use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn price(units: u64) -> Price {
    Price::from_units(units, 8)
}

fn armed(armed_at: i64) -> Armed {
    Armed {
        user: UserId(1),
        armed_at,
        expires_at: i64::MAX,
    }
}

#[test]
fn above_fires_once_at_or_over_the_target() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Above,
        armed(0),
    );
    assert!(index.on_trade(&btc, price(99), 1, 1).fired.is_empty());
    let out = index.on_trade(&btc, price(100), 2, 2);
    assert_eq!(out.fired.len(), 1);
    assert_eq!(out.fired[0].price, price(100));
    assert_eq!(out.fired[0].time, 2);
    assert!(
        index.on_trade(&btc, price(150), 3, 3).fired.is_empty(),
        "one-shot"
    );
    assert!(index.is_empty());
}

#[test]
fn below_fires_at_or_under_and_other_symbols_are_untouched() {
    let mut index = Index::default();
    let (btc, eth) = (sym("BTCUSDT"), sym("ETHUSDT"));
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Below,
        armed(0),
    );
    index.insert(
        AlertId(2),
        eth.clone(),
        price(100),
        Condition::Below,
        armed(0),
    );
    assert!(index.on_trade(&btc, price(101), 1, 1).fired.is_empty());
    let out = index.on_trade(&btc, price(100), 2, 2);
    assert_eq!(
        out.fired.iter().map(|f| f.id).collect::<Vec<_>>(),
        [AlertId(1)]
    );
    assert_eq!(index.len(), 1);
}

#[test]
fn cross_resolves_on_the_first_price_and_an_equal_first_price_fires() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Cross,
        armed(0),
    );
    index.insert(
        AlertId(2),
        btc.clone(),
        price(50),
        Condition::Cross,
        armed(0),
    );
    index.insert(
        AlertId(3),
        btc.clone(),
        price(80),
        Condition::Cross,
        armed(0),
    );
    let out = index.on_trade(&btc, price(80), 1, 1);
    assert_eq!(
        out.fired.iter().map(|f| f.id).collect::<Vec<_>>(),
        [AlertId(3)]
    );
    assert_eq!(
        out.resolved,
        [
            Resolved {
                id: AlertId(1),
                armed_at: 0,
                condition: Condition::Above
            },
            Resolved {
                id: AlertId(2),
                armed_at: 0,
                condition: Condition::Below
            },
        ]
    );
    assert_eq!(
        index.on_trade(&btc, price(100), 2, 2).fired[0].id,
        AlertId(1)
    );
    assert_eq!(
        index.on_trade(&btc, price(10), 3, 3).fired[0].id,
        AlertId(2)
    );
}

#[test]
fn trades_older_than_the_alert_never_fire_it() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Above,
        armed(1_000),
    );
    assert!(index.on_trade(&btc, price(200), 999, 999).fired.is_empty());
    assert_eq!(
        index.on_trade(&btc, price(200), 1_000, 1_000).fired.len(),
        1
    );
}

#[test]
fn remove_disarms() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Above,
        armed(0),
    );
    index.insert(
        AlertId(2),
        btc.clone(),
        price(100),
        Condition::Cross,
        armed(0),
    );
    assert!(index.remove(AlertId(1), &btc, price(100)));
    assert!(index.remove(AlertId(2), &btc, price(100)));
    assert!(!index.remove(AlertId(2), &btc, price(100)));
    assert!(index.on_trade(&btc, price(100), 1, 1).fired.is_empty());
    assert_eq!(index.symbols().count(), 0);
}

/// The specification, written the slow and obvious way.
fn oracle(
    alerts: &[(i64, u64, Condition, i64)],
    trades: &[(u64, i64)],
) -> HashMap<i64, (u64, i64)> {
    let mut fired = HashMap::new();
    for &(id, target, condition, created) in alerts {
        let mut side = condition;
        for &(p, t) in trades.iter().filter(|(_, t)| *t >= created) {
            let hit = match side {
                Condition::Above => p >= target,
                Condition::Below => p <= target,
                Condition::Cross => {
                    if p == target {
                        true
                    } else {
                        side = if p < target {
                            Condition::Above
                        } else {
                            Condition::Below
                        };
                        false
                    }
                }
                _ => unreachable!("no percent alerts here"),
            };
            if hit {
                fired.insert(id, (p, t));
                break;
            }
        }
    }
    fired
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        Just(Condition::Above),
        Just(Condition::Below),
        Just(Condition::Cross)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fires_exactly_what_the_oracle_fires(
        alerts in prop::collection::vec((90u64..110, condition(), 0i64..40), 0..60),
        steps in prop::collection::vec(90u64..110, 0..80),
    ) {
        let btc = sym("BTCUSDT");
        let alerts: Vec<(i64, u64, Condition, i64)> = alerts
            .into_iter()
            .enumerate()
            .map(|(i, (target, c, created))| (i as i64 + 1, target, c, created))
            .collect();
        let trades: Vec<(u64, i64)> = steps.into_iter().enumerate().map(|(t, p)| (p, t as i64)).collect();

        let mut index = Index::default();
        for &(id, target, c, created) in &alerts {
            index.insert(AlertId(id), btc.clone(), price(target), c, armed(created));
        }
        let mut got = HashMap::new();
        for &(p, t) in &trades {
            for f in index.on_trade(&btc, price(p), t, t as u64).fired {
                prop_assert!(got.insert(f.id.0, (f.price.units(), f.time)).is_none(), "fired twice");
            }
        }
        prop_assert_eq!(got, oracle(&alerts, &trades));
        prop_assert_eq!(index.len(), alerts.len() - index_fired_count(&alerts, &trades));
    }
}

fn index_fired_count(alerts: &[(i64, u64, Condition, i64)], trades: &[(u64, i64)]) -> usize {
    oracle(alerts, trades).len()
}

#[test]
fn an_alert_armed_late_sees_the_trades_since_its_creation() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(9),
        btc.clone(),
        price(1),
        Condition::Below,
        armed(0),
    );
    index.on_trade(&btc, price(90), 5, 5); // before the alert exists
    index.on_trade(&btc, price(120), 10, 10); // after its creation, before it was armed
    index.on_trade(&btc, price(95), 11, 11);
    let out = index.insert_and_catch_up(
        AlertId(1),
        btc.clone(),
        price(110),
        Condition::Above,
        armed(10),
        Kind::OneShot,
    );
    assert_eq!(out.fired.len(), 1);
    assert_eq!((out.fired[0].price, out.fired[0].time), (price(120), 10));
    assert!(
        index.on_trade(&btc, price(130), 12, 12).fired.is_empty(),
        "fired once"
    );

    // A `cross` alert is decided by the first remembered trade after its creation.
    let late = index.insert_and_catch_up(
        AlertId(2),
        btc.clone(),
        price(200),
        Condition::Cross,
        armed(12),
        Kind::OneShot,
    );
    assert!(late.fired.is_empty());
    assert_eq!(
        late.resolved,
        [Resolved {
            id: AlertId(2),
            armed_at: 12,
            condition: Condition::Above
        }]
    );
    assert_eq!(
        index.on_trade(&btc, price(200), 13, 13).fired[0].id,
        AlertId(2)
    );
}

#[test]
fn an_alert_armed_just_after_its_symbols_last_one_fired_still_sees_the_trade_between() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Above,
        armed(0),
    );
    assert_eq!(index.on_trade(&btc, price(100), 10, 10).fired.len(), 1);
    assert!(!index.has_symbol("BTCUSDT"), "nothing armed on it now");
    // Alert 2 is committed at 20; the trade at 25 reaches the index before the alert does.
    assert!(index.on_trade(&btc, price(300), 25, 25).fired.is_empty());
    let out = index.insert_and_catch_up(
        AlertId(2),
        btc.clone(),
        price(200),
        Condition::Above,
        armed(20),
        Kind::OneShot,
    );
    assert_eq!(out.fired.len(), 1, "the trade at 25 crossed it");
    assert_eq!(out.fired[0].time, 25);
}

#[test]
fn an_alert_armed_seconds_late_on_a_busy_symbol_still_sees_the_crossing() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    // Something armed keeps the symbol's trades remembered.
    index.insert(
        AlertId(1),
        btc.clone(),
        price(1_000_000),
        Condition::Above,
        armed(0),
    );
    // Alert 2 is committed at 1000; 400 trades (~8 s of a busy symbol) pass before it is
    // armed, the crossing one early among them.
    for i in 0..400 {
        let p = if i == 5 { 50 } else { 150 };
        assert!(index
            .on_trade(&btc, price(p), 1000 + i * 20, (1000 + i * 20) as u64)
            .fired
            .is_empty());
    }
    assert!(!index.forgot_since("BTCUSDT", 1000));
    let out = index.insert_and_catch_up(
        AlertId(2),
        btc.clone(),
        price(100),
        Condition::Below,
        armed(1000),
        Kind::OneShot,
    );
    assert_eq!(out.fired.len(), 1, "the crossing trade was remembered");
    assert_eq!(out.fired[0].time, 1100);
}

#[test]
fn remembered_trades_are_bounded_and_what_was_forgotten_is_known() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert(
        AlertId(1),
        btc.clone(),
        price(1_000_000),
        Condition::Above,
        armed(0),
    );
    // 5,000 trades in one second: more than the most remembered.
    for i in 0..5000 {
        index.on_trade(&btc, price(150), i / 5, (i / 5) as u64);
    }
    assert!(index.forgot_since("BTCUSDT", 0), "the oldest were dropped");
    assert!(!index.forgot_since("BTCUSDT", 999));
    // Trades older than the window go once newer ones come; the newer ones stay.
    for i in 0..100 {
        index.on_trade(&btc, price(150), 1_000_000 + i, (1_000_000 + i) as u64);
    }
    assert!(index.forgot_since("BTCUSDT", 999));
    assert!(!index.forgot_since("BTCUSDT", 1_000_000));
}

/// What a store keeps of a repeating alert: side, fire count, waiting for its re-arm, cooldown
/// end, and the trade behind its latest change.
type Kept = (Condition, u32, bool, Option<i64>, Option<u64>);

/// A repeating alert as the property test draws it: `(id, target, condition, created, rearm
/// distance, cooldown)`, all in units and ticks.
type RepeatingSpec = (i64, u64, Condition, i64, u64, i64);

/// The repeat rule, written the slow and obvious way: every fire `(id, price, time)` in trade
/// order. A fired alert fires again only after a later trade at or past target ∓ distance **and**
/// at a trade at least `cooldown` after the fire.
fn repeat_oracle(alerts: &[RepeatingSpec], trades: &[(u64, i64)]) -> Vec<(i64, u64, i64)> {
    let mut fires = Vec::new();
    for &(id, target, condition, created, distance, cooldown) in alerts {
        let mut side = condition;
        let mut last_fire: Option<i64> = None;
        let mut reset = false;
        for &(p, t) in trades.iter().filter(|(_, t)| *t >= created) {
            let ready = match last_fire {
                None => true,
                Some(f) => reset && t >= f + cooldown,
            };
            let crosses = match side {
                Condition::Above => p >= target,
                Condition::Below => p <= target,
                Condition::Cross => p == target,
                _ => unreachable!("no percent alerts here"),
            };
            if ready && crosses {
                fires.push((id, p, t));
                last_fire = Some(t);
                reset = false;
                continue;
            }
            if last_fire.is_none() {
                if side == Condition::Cross {
                    side = if p < target {
                        Condition::Above
                    } else {
                        Condition::Below
                    };
                }
                continue;
            }
            let low = target.checked_sub(distance).is_some_and(|low| p <= low);
            let high = p >= target + distance;
            if !reset && (low || high) {
                match side {
                    Condition::Above if low => reset = true,
                    Condition::Below if high => reset = true,
                    Condition::Cross => {
                        side = if low {
                            Condition::Above
                        } else {
                            Condition::Below
                        };
                        reset = true;
                    }
                    _ => {}
                }
            }
        }
    }
    fires.sort_by_key(|&(id, _, t)| (t, id));
    fires
}

fn repeat_state(distance: u64, target: u64, cooldown: i64) -> RepeatState {
    RepeatState {
        reset_below: target.checked_sub(distance),
        reset_above: target + distance,
        cooldown_ms: cooldown,
        fire_count: 0,
        phase: RepeatPhase::Armed,
        after_trade: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Repeating alerts, with one-shot ones beside them, fire exactly what the oracle says: a
    /// wobble around the target inside the re-arm distance never fires again, and neither does
    /// a crossing inside the cooldown. Halfway, the index is rebuilt from what a store would
    /// have recorded (fire counts, re-arms, cooldown ends), as after a restart.
    #[test]
    fn repeating_alerts_fire_exactly_what_the_oracle_fires(
        alerts in prop::collection::vec((90u64..110, condition(), 0i64..20, 1u64..8, 0i64..12), 0..30),
        one_shots in prop::collection::vec((90u64..110, condition(), 0i64..20), 0..10),
        steps in prop::collection::vec(85u64..115, 0..120),
        restart_at in 0usize..120,
        lag in 0usize..12,
    ) {
        let btc = sym("BTCUSDT");
        let alerts: Vec<RepeatingSpec> = alerts
            .into_iter()
            .enumerate()
            .map(|(i, (target, c, created, d, cool))| (i as i64 + 1, target, c, created, d, cool))
            .collect();
        let one_shots: Vec<(i64, u64, Condition, i64)> = one_shots
            .into_iter()
            .enumerate()
            .map(|(i, (target, c, created))| (1000 + i as i64, target, c, created))
            .collect();
        let trades: Vec<(u64, i64)> = steps.into_iter().enumerate().map(|(t, p)| (p, t as i64)).collect();

        let mut index = Index::default();
        for &(id, target, c, created, d, cool) in &alerts {
            index.insert_repeating(AlertId(id), btc.clone(), price(target), c, armed(created), repeat_state(d, target, cool));
        }
        for &(id, target, c, created) in &one_shots {
            index.insert(AlertId(id), btc.clone(), price(target), c, armed(created));
        }
        // What a store would keep: per repeating alert, its side, fire count, whether it waits
        // for its re-arm, and when its cooldown ends.
        let mut kept: HashMap<i64, Kept> =
            alerts.iter().map(|a| (a.0, (a.2, 0, false, None, None))).collect();
        let mut one_shots_fired = HashMap::new();
        let mut one_shot_sides: HashMap<i64, Condition> = one_shots.iter().map(|a| (a.0, a.2)).collect();
        let mut got = Vec::new();
        for (i, &(p, t)) in trades.iter().enumerate() {
            if i == restart_at {
                let mut fresh = Index::default();
                for &(id, target, _, created, d, cool) in &alerts {
                    let (side, count, waiting, until, after_trade) = kept[&id];
                    let phase = match (waiting, until) {
                        (true, until) => RepeatPhase::Resetting { cooldown_until: until.unwrap_or(i64::MIN) },
                        (false, Some(until)) => RepeatPhase::Cooling { until },
                        _ => RepeatPhase::Armed,
                    };
                    let state = RepeatState { fire_count: count, phase, after_trade, ..repeat_state(d, target, cool) };
                    fresh.insert_repeating(AlertId(id), btc.clone(), price(target), side, armed(created), state);
                }
                for &(id, target, _, created) in &one_shots {
                    if !one_shots_fired.contains_key(&id) {
                        fresh.insert(AlertId(id), btc.clone(), price(target), one_shot_sides[&id], armed(created));
                    }
                }
                index = fresh;
                // The saved stream position lags: the last few trades come again, and change
                // nothing (every fire and re-arm they caused is kept).
                for &(p, t) in &trades[i.saturating_sub(lag)..i] {
                    let again = index.on_trade(&btc, price(p), t, t as u64);
                    prop_assert!(again.fired.is_empty() && again.rearmed.is_empty(), "replay changed {:?}", again);
                }
            }
            let out = index.on_trade(&btc, price(p), t, t as u64);
            for r in &out.resolved {
                if let Some(k) = kept.get_mut(&r.id.0) {
                    k.0 = r.condition;
                } else {
                    one_shot_sides.insert(r.id.0, r.condition);
                }
            }
            for f in &out.fired {
                if let Some(k) = kept.get_mut(&f.id.0) {
                    prop_assert_eq!(f.repeat, Some(k.1 + 1), "fires count up one at a time");
                    let cool = alerts.iter().find(|a| a.0 == f.id.0).unwrap().5;
                    *k = (k.0, k.1 + 1, true, Some(t + cool), Some(t as u64));
                    got.push((f.id.0, f.price.units(), f.time));
                } else {
                    prop_assert_eq!(f.repeat, None);
                    prop_assert!(one_shots_fired.insert(f.id.0, (f.price.units(), f.time)).is_none(), "fired twice");
                }
            }
            for r in &out.rearmed {
                let k = kept.get_mut(&r.id.0).unwrap();
                prop_assert_eq!(r.fire_count, k.1);
                k.2 = false;
                k.4 = Some(t as u64);
            }
        }
        got.sort_by_key(|&(id, _, t)| (t, id));
        prop_assert_eq!(got, repeat_oracle(&alerts, &trades));
        prop_assert_eq!(one_shots_fired, oracle(&one_shots, &trades));
        prop_assert_eq!(index.len(), alerts.len() + one_shots.len() - oracle(&one_shots, &trades).len());
    }
}

#[test]
fn a_wobble_inside_the_rearm_distance_fires_once() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    index.insert_repeating(
        AlertId(1),
        btc.clone(),
        price(100),
        Condition::Above,
        armed(0),
        repeat_state(5, 100, 0),
    );
    let fired_at =
        |index: &mut Index, p: u64, t: i64| index.on_trade(&btc, price(p), t, t as u64).fired.len();
    assert_eq!(fired_at(&mut index, 100, 1), 1);
    for (t, p) in [99, 101, 96, 100, 104, 96].into_iter().enumerate() {
        assert_eq!(fired_at(&mut index, p, 2 + t as i64), 0, "wobble {p} fired");
    }
    let out = index.on_trade(&btc, price(95), 10, 10);
    assert_eq!(out.rearmed.len(), 1);
    assert_eq!(fired_at(&mut index, 100, 11), 1);
    assert_eq!(index.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Repeating alerts armed a few trades after their creation (as a commit can land before
    /// the index sees the alert) catch up and then fire exactly what the oracle says.
    #[test]
    fn repeating_alerts_armed_late_catch_up_exactly(
        alerts in prop::collection::vec((90u64..110, condition(), 0i64..20, 1u64..8, 0i64..12, 0i64..6), 0..20),
        steps in prop::collection::vec(85u64..115, 0..80),
    ) {
        let btc = sym("BTCUSDT");
        let specs: Vec<RepeatingSpec> = alerts
            .iter()
            .enumerate()
            .map(|(i, &(target, c, created, d, cool, _))| (i as i64 + 1, target, c, created, d, cool))
            .collect();
        let trades: Vec<(u64, i64)> = steps.into_iter().enumerate().map(|(t, p)| (p, t as i64)).collect();
        let mut index = Index::default();
        // The symbol is followed (its book remembers trades) before these alerts come.
        index.insert(AlertId(999), btc.clone(), price(1), Condition::Below, armed(i64::MAX));
        let mut got = Vec::new();
        let arm_due = |index: &mut Index, now: i64, got: &mut Vec<(i64, u64, i64)>| {
            for (i, &(target, c, created, d, cool, late)) in alerts.iter().enumerate() {
                if created + late == now {
                    let out = index.insert_and_catch_up(
                        AlertId(i as i64 + 1), btc.clone(), price(target), c, armed(created),
                        Kind::Repeating(repeat_state(d, target, cool)),
                    );
                    got.extend(out.fired.iter().map(|f| (f.id.0, f.price.units(), f.time)));
                }
            }
        };
        for &(p, t) in &trades {
            arm_due(&mut index, t, &mut got);
            let out = index.on_trade(&btc, price(p), t, t as u64);
            got.extend(out.fired.iter().map(|f| (f.id.0, f.price.units(), f.time)));
        }
        // Alerts whose arming falls after the last trade saw only what was before it.
        let last = trades.last().map_or(0, |t| t.1);
        let specs: Vec<RepeatingSpec> = specs
            .into_iter()
            .zip(&alerts)
            .filter(|(_, a)| a.2 + a.5 <= last)
            .map(|(s, _)| s)
            .collect();
        got.retain(|f| specs.iter().any(|s| s.0 == f.0));
        got.sort_by_key(|&(id, _, t)| (t, id));
        prop_assert_eq!(got, repeat_oracle(&specs, &trades));
    }
}

#[test]
fn inserting_a_repeating_alert_again_replaces_where_it_was() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    let target = 100;
    index.insert_repeating(
        AlertId(1),
        btc.clone(),
        price(target),
        Condition::Above,
        armed(0),
        repeat_state(5, target, 0),
    );
    // The same alert, now fired and waiting for its re-arm: it no longer watches its target.
    let waiting = RepeatState {
        fire_count: 1,
        phase: RepeatPhase::Resetting { cooldown_until: 0 },
        ..repeat_state(5, target, 0)
    };
    index.insert_repeating(
        AlertId(1),
        btc.clone(),
        price(target),
        Condition::Above,
        armed(0),
        waiting,
    );
    assert_eq!(index.len(), 1);
    assert!(index.on_trade(&btc, price(120), 1, 1).fired.is_empty());
    assert_eq!(index.on_trade(&btc, price(95), 2, 2).rearmed.len(), 1);
    assert_eq!(index.on_trade(&btc, price(100), 3, 3).fired.len(), 1);
}

/// An alert as the expiry property test draws it: `(id, target, condition, created, expires,
/// repeat (distance, cooldown))`.
type ExpiringSpec = (i64, u64, Condition, i64, i64, Option<(u64, i64)>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Expiry is exact: an alert fires at exactly what the oracle says over the trades before
    /// its `expires_at` (several trades share a millisecond), never at a trade at or after it,
    /// and leaves the index as `expired` at the first trade at or past it, or at a sweep that
    /// says every trade before a moment was applied, whichever comes first.
    #[test]
    fn expiry_is_exact(
        alerts in prop::collection::vec(
            (90u64..110, condition(), 0i64..20, 1i64..60, prop::option::of((1u64..8, 0i64..12))),
            0..40,
        ),
        steps in prop::collection::vec((85u64..115, 0i64..3, any::<bool>()), 0..100),
    ) {
        let btc = sym("BTCUSDT");
        let alerts: Vec<ExpiringSpec> = alerts
            .into_iter()
            .enumerate()
            .map(|(i, (target, c, created, life, rep))| (i as i64 + 1, target, c, created, created + life, rep))
            .collect();
        let mut time = 0;
        let trades: Vec<(u64, i64, bool)> = steps
            .into_iter()
            .map(|(p, dt, sweep)| {
                time += dt;
                (p, time, sweep)
            })
            .collect();

        let mut index = Index::default();
        for &(id, target, c, created, expires, rep) in &alerts {
            let armed = Armed { expires_at: expires, ..armed(created) };
            match rep {
                Some((d, cool)) => index.insert_repeating(AlertId(id), btc.clone(), price(target), c, armed, repeat_state(d, target, cool)),
                None => index.insert(AlertId(id), btc.clone(), price(target), c, armed),
            }
        }
        let mut fires = Vec::new();
        let mut expired: HashMap<i64, i64> = HashMap::new();
        let mut settled = i64::MIN;
        for (i, &(p, t, sweep)) in trades.iter().enumerate() {
            let out = index.on_trade(&btc, price(p), t, i as u64);
            settled = settled.max(t);
            fires.extend(out.fired.iter().map(|f| (f.id.0, f.price.units(), f.time)));
            for e in out.expired {
                prop_assert!(expired.insert(e.id.0, t).is_none(), "expired twice");
            }
            // A sweep knows every trade before the next one's time was applied.
            let next = trades.get(i + 1).map_or(t + 100, |n| n.1);
            if sweep {
                for e in index.expire_through(&btc, next).expired {
                    prop_assert!(expired.insert(e.id.0, next).is_none(), "expired twice");
                }
                settled = settled.max(next);
            }
        }
        // The oracle: each alert alone, over the trades before its expiry.
        let mut want_fires = Vec::new();
        let mut want_expired = Vec::new();
        for &(id, target, c, created, expires, rep) in &alerts {
            let before: Vec<(u64, i64)> = trades.iter().filter(|x| x.1 < expires).map(|x| (x.0, x.1)).collect();
            let fired = match rep {
                Some((d, cool)) => repeat_oracle(&[(id, target, c, created, d, cool)], &before),
                None => oracle(&[(id, target, c, created)], &before)
                    .into_iter()
                    .map(|(id, (p, t))| (id, p, t))
                    .collect(),
            };
            let gone = rep.is_none() && !fired.is_empty();
            if !gone && expires <= settled {
                want_expired.push(id);
            }
            want_fires.extend(fired);
        }
        fires.sort_by_key(|&(id, _, t)| (t, id));
        want_fires.sort_by_key(|&(id, _, t)| (t, id));
        prop_assert_eq!(fires, want_fires);
        let mut got_expired: Vec<i64> = expired.keys().copied().collect();
        got_expired.sort();
        prop_assert_eq!(&got_expired, &want_expired);
        let one_shots_fired = alerts.iter().filter(|a| a.5.is_none()).filter(|a| {
            let before: Vec<(u64, i64)> = trades.iter().filter(|x| x.1 < a.4).map(|x| (x.0, x.1)).collect();
            !oracle(&[(a.0, a.1, a.2, a.3)], &before).is_empty()
        }).count();
        prop_assert_eq!(index.len(), alerts.len() - one_shots_fired - want_expired.len());
    }
}

#[test]
fn an_edited_expiry_is_the_one_that_counts() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    let first = Armed {
        expires_at: 10,
        ..armed(0)
    };
    index.insert(AlertId(1), btc.clone(), price(100), Condition::Above, first);
    // Edited: the old definition leaves, the new one expires later.
    index.remove(AlertId(1), &btc, price(100));
    let later = Armed {
        expires_at: 20,
        ..armed(5)
    };
    index.insert(AlertId(1), btc.clone(), price(100), Condition::Above, later);
    let out = index.on_trade(&btc, price(50), 12, 1);
    assert!(out.expired.is_empty(), "the old expiry's entry is stale");
    assert_eq!(index.len(), 1);
    let out = index.on_trade(&btc, price(100), 19, 2);
    assert_eq!(out.fired.len(), 1, "still armed before its new expiry");
    index.insert(AlertId(2), btc.clone(), price(100), Condition::Above, later);
    let out = index.on_trade(&btc, price(100), 20, 3);
    assert!(out.fired.is_empty(), "a trade at the expiry never fires it");
    assert_eq!(out.expired.len(), 1);
    assert_eq!(index.len(), 0);
}

/// A percent alert as the property test draws it: `(id, side, percent, window, created,
/// cooldown if repeating, expires)`.
type PercentSpec = (i64, Condition, u64, i64, i64, Option<i64>, i64);

/// The percent rule, written the slow and obvious way from the whole trade list: at each trade,
/// the window is every trade since the alert's start (its creation, then its latest fire) at
/// or after `time − window`; it fires when the price is `percent` % past the window's low or
/// high. Every fire `(id, price, time, reference)`.
fn percent_oracle(alerts: &[PercentSpec], trades: &[(u64, i64)]) -> Vec<(i64, u64, i64, u64)> {
    let mut fires = Vec::new();
    for &(id, side, pct, window, created, cooldown, expires) in alerts {
        let rule = Move {
            percent: Price::from_units(pct * 100_000_000, 0),
            window_ms: window,
        };
        let mut start: Option<usize> = None;
        let mut quiet_until = i64::MIN;
        for (i, &(p, t)) in trades.iter().enumerate() {
            if t < created {
                continue;
            }
            if t >= expires {
                break;
            }
            let s = *start.get_or_insert(i);
            let window: Vec<u64> = trades[s..=i]
                .iter()
                .filter(|x| x.1 >= t - window)
                .map(|x| x.0)
                .collect();
            let (low, high) = (*window.iter().min().unwrap(), *window.iter().max().unwrap());
            if t < quiet_until {
                continue;
            }
            let up = side != Condition::PercentDown && rule.up_from(low, p);
            let down = side != Condition::PercentUp && rule.down_from(high, p);
            let reference = if up { low } else { high };
            if up || down {
                fires.push((id, p, t, reference));
                match cooldown {
                    Some(c) => {
                        start = Some(i);
                        quiet_until = t + c;
                    }
                    None => break,
                }
            }
        }
    }
    fires.sort_by_key(|&(id, _, t, _)| (t, id));
    fires
}

fn percent_side() -> impl Strategy<Value = Condition> {
    prop_oneof![
        Just(Condition::PercentUp),
        Just(Condition::PercentDown),
        Just(Condition::PercentMove)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Percent alerts of all three kinds, one-shot and repeating, with random windows, created
    /// at random moments and some expiring, fire exactly what the oracle says, each measured
    /// from the reference the oracle finds; threshold alerts beside them are untouched.
    #[test]
    fn percent_alerts_fire_exactly_what_the_oracle_fires(
        alerts in prop::collection::vec(
            (percent_side(), 1u64..40, 1i64..15, 0i64..30, prop::option::of(0i64..10), prop::option::of(1i64..60)),
            0..30,
        ),
        one_shots in prop::collection::vec((50u64..150, condition(), 0i64..30), 0..6),
        steps in prop::collection::vec((50u64..150, 0i64..3), 0..120),
    ) {
        let btc = sym("BTCUSDT");
        let alerts: Vec<PercentSpec> = alerts
            .into_iter()
            .enumerate()
            .map(|(i, (side, pct, window, created, cooldown, life))| {
                let expires = life.map_or(i64::MAX, |l| created + l);
                (i as i64 + 1, side, pct, window, created, cooldown, expires)
            })
            .collect();
        let one_shots: Vec<(i64, u64, Condition, i64)> = one_shots
            .into_iter()
            .enumerate()
            .map(|(i, (target, c, created))| (1000 + i as i64, target, c, created))
            .collect();
        let mut time = 0;
        let trades: Vec<(u64, i64)> = steps
            .into_iter()
            .map(|(p, dt)| {
                time += dt;
                (p, time)
            })
            .collect();

        let mut index = Index::default();
        for &(id, side, pct, window, created, cooldown, expires) in &alerts {
            let rule = Move { percent: Price::from_units(pct * 100_000_000, 0), window_ms: window };
            let state = PercentState {
                repeat: cooldown.map(|_| 0),
                cooldown_ms: cooldown.unwrap_or(0),
                ..PercentState::starting(created)
            };
            let armed = Armed { expires_at: expires, ..armed(created) };
            index.insert_kind(AlertId(id), btc.clone(), Price::from_units(0, 0), side, armed, Kind::Percent(rule, state));
        }
        for &(id, target, c, created) in &one_shots {
            index.insert(AlertId(id), btc.clone(), price(target), c, armed(created));
        }
        let mut got = Vec::new();
        let mut one_shots_fired = HashMap::new();
        let mut counts: HashMap<i64, u32> = HashMap::new();
        for (i, &(p, t)) in trades.iter().enumerate() {
            for f in index.on_trade(&btc, price(p), t, i as u64).fired {
                if f.id.0 >= 1000 {
                    prop_assert_eq!(f.reference, None);
                    one_shots_fired.insert(f.id.0, (f.price.units(), f.time));
                    continue;
                }
                let spec = alerts.iter().find(|a| a.0 == f.id.0).unwrap();
                if spec.5.is_some() {
                    let count = counts.entry(f.id.0).or_default();
                    *count += 1;
                    prop_assert_eq!(f.repeat, Some(*count), "fires count up one at a time");
                } else {
                    prop_assert_eq!(f.repeat, None);
                }
                let reference = f.reference.expect("a percent fire has a reference").units();
                got.push((f.id.0, f.price.units(), f.time, reference));
            }
        }
        got.sort_by_key(|&(id, _, t, _)| (t, id));
        prop_assert_eq!(got, percent_oracle(&alerts, &trades));
        prop_assert_eq!(one_shots_fired, oracle(&one_shots, &trades));
    }
}

#[test]
fn a_percent_alert_is_measured_from_the_window_not_from_before_it_existed() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    let up = |created: i64, window: i64| {
        let rule = Move {
            percent: Price::parse("10").unwrap(),
            window_ms: window,
        };
        Kind::Percent(rule, PercentState::starting(created))
    };
    // A low of 90 before the alert existed: a trade at 100 afterwards is not a 10 % rise.
    index.on_trade(&btc, price(90), 0, 1);
    index.insert_kind(
        AlertId(1),
        btc.clone(),
        Price::from_units(0, 0),
        Condition::PercentUp,
        armed(5),
        up(5, 100),
    );
    assert!(index.on_trade(&btc, price(100), 5, 2).fired.is_empty());
    assert!(index.on_trade(&btc, price(105), 6, 3).fired.is_empty());
    // 100 × 1.1 = 110 exactly.
    let out = index.on_trade(&btc, price(110), 7, 4);
    assert_eq!(out.fired.len(), 1);
    assert_eq!(out.fired[0].reference, Some(Price::from_units(100, 0)));
    assert_eq!(index.len(), 0, "one-shot");
    // A window slides: the low of 100 at time 10 leaves it once 10 is more than 20 back.
    index.insert_kind(
        AlertId(2),
        btc.clone(),
        Price::from_units(0, 0),
        Condition::PercentUp,
        armed(10),
        up(10, 20),
    );
    index.on_trade(&btc, price(100), 10, 5);
    index.on_trade(&btc, price(105), 25, 6);
    index.on_trade(&btc, price(106), 40, 7);
    // At 41 the window is [21, 41]: its low is 105, so 115 is not enough but 115.5 is.
    assert!(index.on_trade(&btc, price(115), 41, 8).fired.is_empty());
    let out = index.on_trade(&btc, price(116), 41, 9);
    assert_eq!(out.fired[0].reference, Some(Price::from_units(105, 0)));
}

#[test]
fn a_move_past_both_thresholds_at_once_is_measured_from_the_low() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    let rule = Move {
        percent: Price::parse("10").unwrap(),
        window_ms: 10,
    };
    let state = PercentState::starting(0);
    // Its window starts at 0, but it may fire only from 12: by then 200 is 10 % above the
    // window's low (100) and 10 % below its high (300). A rise is checked first.
    index.insert_kind(
        AlertId(1),
        btc.clone(),
        Price::from_units(0, 0),
        Condition::PercentMove,
        armed(12),
        Kind::Percent(rule, state),
    );
    index.on_trade(&btc, price(100), 5, 1);
    index.on_trade(&btc, price(300), 6, 2);
    let out = index.on_trade(&btc, price(200), 12, 3);
    assert_eq!(out.fired.len(), 1);
    assert_eq!(out.fired[0].reference, Some(Price::from_units(100, 0)));
}

#[test]
fn editing_an_expiry_over_and_over_keeps_the_expiry_heap_bounded() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    for i in 0..10_000 {
        let a = Armed {
            expires_at: 1_000_000 + i,
            ..armed(0)
        };
        index.remove(AlertId(1), &btc, price(100));
        index.insert(AlertId(1), btc.clone(), price(100), Condition::Above, a);
    }
    let heap = index.books[btc.as_str()].expiring.len();
    assert!(heap <= 128, "{heap} entries for one alert");
    // The live entry survived every compaction: the alert expires at its last expiry.
    assert!(index
        .on_trade(&btc, price(50), 1_009_998, 1)
        .expired
        .is_empty());
    assert_eq!(
        index.on_trade(&btc, price(50), 1_009_999, 2).expired.len(),
        1
    );
}

#[test]
fn editing_a_cooling_repeating_alert_over_and_over_leaves_one_cooling_entry() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    for i in 0..10_000 {
        let state = RepeatState {
            phase: RepeatPhase::Cooling {
                until: 1_000_000 + i,
            },
            ..repeat_state(10, 100, 1_000)
        };
        index.remove(AlertId(1), &btc, price(100));
        index.insert_kind(
            AlertId(1),
            btc.clone(),
            price(100),
            Condition::Above,
            armed(0),
            Kind::Repeating(state),
        );
    }
    let book = &index.books[btc.as_str()];
    let cooling = book.repeating.as_ref().map_or(0, |r| r.cooling.len());
    assert_eq!(cooling, 1);
    // It cools until the end its last edit gave it, then the next crossing fires it.
    assert!(index
        .on_trade(&btc, price(150), 1_009_998, 1)
        .fired
        .is_empty());
    assert_eq!(
        index.on_trade(&btc, price(150), 1_009_999, 2).fired.len(),
        1
    );
}

#[test]
fn editing_a_cooling_percent_alert_over_and_over_leaves_one_cooling_entry() {
    let mut index = Index::default();
    let btc = sym("BTCUSDT");
    // The symbol's clock is well past the alert's start, so the alert is grown up at once.
    index.insert(
        AlertId(999),
        btc.clone(),
        price(1),
        Condition::Below,
        armed(0),
    );
    index.on_trade(&btc, price(100), 500_000, 1);
    let rule = Move {
        percent: Price::parse("10").unwrap(),
        window_ms: 10,
    };
    // Another alert keeps the window alive through the edits; it never fires (a 1000 % rise).
    let huge = Move {
        percent: Price::parse("1000").unwrap(),
        ..rule
    };
    index.insert_kind(
        AlertId(2),
        btc.clone(),
        Price::from_units(0, 0),
        Condition::PercentUp,
        armed(0),
        Kind::Percent(huge, PercentState::starting(0)),
    );
    for i in 0..10_000 {
        let state = PercentState {
            cooling_until: 1_000_000 + i,
            repeat: Some(1),
            cooldown_ms: 1_000,
            ..PercentState::starting(0)
        };
        index.remove(AlertId(1), &btc, Price::from_units(0, 0));
        index.insert_kind(
            AlertId(1),
            btc.clone(),
            Price::from_units(0, 0),
            Condition::PercentUp,
            armed(0),
            Kind::Percent(rule, state),
        );
    }
    let percents = index.books[btc.as_str()].percents.as_ref();
    assert_eq!(percents.map_or(0, |p| p.cooling_len()), 1);
    // It cools until the end its last edit gave it, then a 10 % rise fires it.
    index.on_trade(&btc, price(100), 1_009_995, 2);
    assert!(index
        .on_trade(&btc, price(110), 1_009_998, 3)
        .fired
        .is_empty());
    assert_eq!(
        index.on_trade(&btc, price(110), 1_009_999, 4).fired.len(),
        1
    );
}
