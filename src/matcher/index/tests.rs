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
    assert!(index.on_trade(&btc, price(99), 1).fired.is_empty());
    let out = index.on_trade(&btc, price(100), 2);
    assert_eq!(out.fired.len(), 1);
    assert_eq!(out.fired[0].price, price(100));
    assert_eq!(out.fired[0].time, 2);
    assert!(
        index.on_trade(&btc, price(150), 3).fired.is_empty(),
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
    assert!(index.on_trade(&btc, price(101), 1).fired.is_empty());
    let out = index.on_trade(&btc, price(100), 2);
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
    let out = index.on_trade(&btc, price(80), 1);
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
    assert_eq!(index.on_trade(&btc, price(100), 2).fired[0].id, AlertId(1));
    assert_eq!(index.on_trade(&btc, price(10), 3).fired[0].id, AlertId(2));
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
    assert!(index.on_trade(&btc, price(200), 999).fired.is_empty());
    assert_eq!(index.on_trade(&btc, price(200), 1_000).fired.len(), 1);
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
    assert!(index.on_trade(&btc, price(100), 1).fired.is_empty());
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
            for f in index.on_trade(&btc, price(p), t).fired {
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
    index.on_trade(&btc, price(90), 5); // before the alert exists
    index.on_trade(&btc, price(120), 10); // after its creation, before it was armed
    index.on_trade(&btc, price(95), 11);
    let out = index.insert_and_catch_up(
        AlertId(1),
        btc.clone(),
        price(110),
        Condition::Above,
        armed(10),
    );
    assert_eq!(out.fired.len(), 1);
    assert_eq!((out.fired[0].price, out.fired[0].time), (price(120), 10));
    assert!(
        index.on_trade(&btc, price(130), 12).fired.is_empty(),
        "fired once"
    );

    // A `cross` alert is decided by the first remembered trade after its creation.
    let late = index.insert_and_catch_up(
        AlertId(2),
        btc.clone(),
        price(200),
        Condition::Cross,
        armed(12),
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
    assert_eq!(index.on_trade(&btc, price(200), 13).fired[0].id, AlertId(2));
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
    assert_eq!(index.on_trade(&btc, price(100), 10).fired.len(), 1);
    assert!(!index.has_symbol("BTCUSDT"), "nothing armed on it now");
    // Alert 2 is committed at 20; the trade at 25 reaches the index before the alert does.
    assert!(index.on_trade(&btc, price(300), 25).fired.is_empty());
    let out = index.insert_and_catch_up(
        AlertId(2),
        btc.clone(),
        price(200),
        Condition::Above,
        armed(20),
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
            .on_trade(&btc, price(p), 1000 + i * 20)
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
        index.on_trade(&btc, price(150), i / 5);
    }
    assert!(index.forgot_since("BTCUSDT", 0), "the oldest were dropped");
    assert!(!index.forgot_since("BTCUSDT", 999));
    // Trades older than the window go once newer ones come; the newer ones stay.
    for i in 0..100 {
        index.on_trade(&btc, price(150), 1_000_000 + i);
    }
    assert!(index.forgot_since("BTCUSDT", 999));
    assert!(!index.forgot_since("BTCUSDT", 1_000_000));
}
