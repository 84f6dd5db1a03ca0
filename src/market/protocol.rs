//! Binance combined-stream frames. Trades, the hot path, are decoded in one pass into borrowed
//! structs; everything else (control replies, tickers, shutdown notices) is rare and decoded
//! generically.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{is_exchange_symbol, Price, Symbol};

pub use super::trade::{Trade, TradeRef};

#[derive(Deserialize)]
struct AggTradeFrame<'a> {
    #[serde(borrow, rename = "data")]
    data: AggTradeData<'a>,
}

#[derive(Deserialize)]
pub struct AggTradeData<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "a")]
    agg_id: u64,
    #[serde(rename = "p")]
    price: &'a str,
    #[serde(rename = "T")]
    time: i64,
}

impl<'a> AggTradeData<'a> {
    fn into_trade_ref(self) -> Result<TradeRef<'a>, String> {
        if !is_exchange_symbol(self.symbol) {
            return Err(format!("symbol {:?} is not alertable", self.symbol));
        }
        Ok(TradeRef {
            symbol: self.symbol,
            agg_id: self.agg_id,
            price: Price::parse(self.price).map_err(|e| format!("price {:?} {e}", self.price))?,
            time: self.time,
        })
    }

    fn into_trade(self) -> Result<Trade, String> {
        self.into_trade_ref()?.to_owned()
    }
}

/// `{"stream":"<name>@aggTrade",...`: the stream name is the first field of a combined frame.
fn is_agg_trade_frame(text: &[u8]) -> bool {
    const PREFIX: &[u8] = b"{\"stream\":\"";
    const SUFFIX: &[u8] = b"@aggTrade";
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    let Some(end) = rest.iter().take(64).position(|&b| b == b'"') else {
        return false;
    };
    rest[..end].ends_with(SUFFIX)
}

/// Decodes an aggTrade frame without allocating; `None` when it is another kind of frame.
pub fn decode_trade(text: &[u8]) -> Option<Result<TradeRef<'_>, String>> {
    if let Some(trade) = super::fast_trade::read(text) {
        return Some(Ok(trade));
    }
    decode_trade_with_serde(text)
}

/// The general path for aggTrade frames, and the reference the fast reader is tested against.
pub fn decode_trade_with_serde(text: &[u8]) -> Option<Result<TradeRef<'_>, String>> {
    if !is_agg_trade_frame(text) {
        return None;
    }
    Some(
        serde_json::from_slice::<AggTradeFrame<'_>>(text)
            .map_err(|e| format!("bad aggTrade frame: {e}"))
            .and_then(|frame| frame.data.into_trade_ref()),
    )
}

/// One entry of `!miniTicker@arr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticker {
    pub symbol: Symbol,
    pub price: Price,
    pub time: i64,
}

#[derive(Debug, PartialEq)]
pub enum Frame {
    Trade(Trade),
    Tickers(Vec<Ticker>),
    /// The server will close soon: reconnect now.
    ServerShutdown,
    /// A reply to SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS.
    Reply {
        id: u64,
        result: Value,
    },
    ControlError {
        id: Option<u64>,
        message: String,
    },
    /// Well-formed but of no interest (another stream type).
    Other,
}

/// Decodes a text frame. Errors carry a description for the log; they never stop the stream.
pub fn decode(text: &[u8]) -> Result<Frame, String> {
    if let Some(trade) = decode_trade(text) {
        return trade.and_then(|t| t.to_owned()).map(Frame::Trade);
    }
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("bad frame: {e}"))?;
    decode_value(value)
}

/// A control error in either shape Binance sends: `{"error": {"code": 2, "msg": "..."},
/// "id": 2}` (seen in real sessions, `id` possibly null) or the documented flat `{"code": 2,
/// "msg": "..."}`. Never a data frame: those carry `stream`.
fn control_error(value: &Value) -> Option<Frame> {
    if value.get("stream").is_some() {
        return None;
    }
    let id = value.get("id").and_then(Value::as_u64);
    let described = |v: &Value| {
        let msg = v.get("msg").and_then(Value::as_str).unwrap_or("no message");
        match v.get("code").and_then(Value::as_i64) {
            Some(code) => format!("code {code}: {msg}"),
            None => msg.to_string(),
        }
    };
    let message = match value.get("error") {
        Some(Value::String(text)) => text.clone(),
        Some(error) => described(error),
        None if value.get("code").is_some() && value.get("msg").is_some() => described(value),
        None => return None,
    };
    Some(Frame::ControlError { id, message })
}

fn decode_value(value: Value) -> Result<Frame, String> {
    if let Some(error) = control_error(&value) {
        return Ok(error);
    }
    // An acknowledgement names the request it answers: a number `id` and a `result`.
    if let (Some(id), Some(result)) = (value.get("id").and_then(Value::as_u64), value.get("result"))
    {
        return Ok(Frame::Reply {
            id,
            result: result.clone(),
        });
    }
    if value.get("id").is_some() {
        return Ok(Frame::Other);
    }
    let stream = value.get("stream").and_then(Value::as_str).unwrap_or("");
    let data = value.get("data").unwrap_or(&value);
    if stream == "!serverShutdown"
        || data.get("e").and_then(Value::as_str) == Some("serverShutdown")
    {
        return Ok(Frame::ServerShutdown);
    }
    if stream.ends_with("@aggTrade") {
        let trade: AggTradeData<'_> =
            AggTradeData::deserialize(data).map_err(|e| format!("bad aggTrade: {e}"))?;
        return trade.into_trade().map(Frame::Trade);
    }
    if stream == "!miniTicker@arr" {
        let tickers = data
            .as_array()
            .ok_or("miniTicker data is not an array")?
            .iter()
            .filter_map(|t| {
                // Symbols we cannot alert on (e.g. non-ASCII ones) are skipped, not errors.
                let symbol = Symbol::parse(t.get("s")?.as_str()?).ok()?;
                let price = Price::parse(t.get("c")?.as_str()?).ok()?;
                let time = t.get("E").and_then(Value::as_i64).unwrap_or(0);
                Some(Ticker {
                    symbol,
                    price,
                    time,
                })
            })
            .collect();
        return Ok(Frame::Tickers(tickers));
    }
    Ok(Frame::Other)
}

/// Stream name of a symbol's aggregate trades: `btcusdt@aggTrade`.
pub fn trade_stream(symbol: &Symbol) -> String {
    format!("{}@aggTrade", symbol.as_str().to_ascii_lowercase())
}

/// The symbol of a `<symbol>@aggTrade` stream.
pub fn stream_symbol(stream: &str) -> Option<Symbol> {
    let name = stream.strip_suffix("@aggTrade")?;
    Symbol::parse(&name.to_ascii_uppercase()).ok()
}

pub const TICKERS_STREAM: &str = "!miniTicker@arr";

/// A SUBSCRIBE or UNSUBSCRIBE message.
pub fn control(method: &str, streams: &[String], id: u64) -> String {
    serde_json::json!({ "method": method, "params": streams, "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn decodes_a_real_format_trade() {
        let text = br#"{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1672515782136,"m":true,"M":true}}"#;
        let Frame::Trade(t) = decode(text).unwrap() else {
            panic!()
        };
        assert_eq!(t.symbol.as_str(), "BNBBTC");
        assert_eq!(t.agg_id, 26129);
        assert_eq!(t.price.to_string(), "0.01633102");
        assert_eq!(t.time, 1672515782136);
    }

    #[test]
    fn decodes_control_and_other_frames() {
        assert_eq!(
            decode(br#"{"result":null,"id":1}"#).unwrap(),
            Frame::Reply {
                id: 1,
                result: Value::Null
            }
        );
        // Error replies in both shapes, with a number or a null id: never an acknowledgement,
        // never data, and the message is kept for the log.
        for (text, id) in [
            (
                r#"{"error":{"code":2,"msg":"Invalid request"},"id":4}"#,
                Some(4),
            ),
            (
                r#"{"error":{"code":2,"msg":"Invalid request"},"id":null}"#,
                None,
            ),
            (r#"{"code":2,"msg":"Invalid request"}"#, None),
            (r#"{"code":2,"msg":"Invalid request","id":null}"#, None),
            (r#"{"code":2,"msg":"Invalid request","id":7}"#, Some(7)),
        ] {
            assert_eq!(
                decode(text.as_bytes()).unwrap(),
                Frame::ControlError {
                    id,
                    message: "code 2: Invalid request".into()
                },
                "{text}"
            );
        }
        assert_eq!(
            decode(br#"{"error":"Invalid JSON","id":null}"#).unwrap(),
            Frame::ControlError {
                id: None,
                message: "Invalid JSON".into()
            }
        );
        // An id without a result acknowledges nothing.
        assert_eq!(decode(br#"{"id":null}"#).unwrap(), Frame::Other);
        assert_eq!(decode(br#"{"id":3}"#).unwrap(), Frame::Other);
        assert_eq!(
            decode(br#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#).unwrap(),
            Frame::ServerShutdown
        );
        let tickers = r#"{"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":5,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"},{"s":"币安币","c":"1","E":5}]}"#;
        let Frame::Tickers(list) = decode(tickers.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].price.to_string(), "0.0025");
        assert!(decode(b"not json").is_err());
        assert!(
            decode(br#"{"stream":"x@aggTrade","data":{"s":"BTCUSDT","a":1,"p":"-1","T":1}}"#)
                .is_err()
        );
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z]{1,3}".prop_map(|k| format!(r#""{k}":"v""#)),
            (0u64..u64::MAX).prop_map(|n| format!(r#""E":{n}"#)),
            any::<bool>().prop_map(|b| format!(r#""m":{b}"#)),
            Just(r#""q":"1.5""#.to_string()),
        ]
    }

    proptest! {
        /// Whenever the fast reader (`fast_trade.rs`) answers, serde_json gives the same trade.
        #[test]
        fn agrees_with_serde_json(
            symbol in "[A-Z0-9]{1,22}",
            agg in 0u64..u64::MAX,
            price in "[0-9]{1,12}(\\.[0-9]{1,9})?",
            time in 0i64..i64::MAX,
            extra in prop::collection::vec(field(), 0..6),
            order in any::<u8>(),
            spaces in any::<bool>(),
        ) {
            let mut fields = vec![
                format!(r#""s":"{symbol}""#),
                format!(r#""a":{agg}"#),
                format!(r#""p":"{price}""#),
                format!(r#""T":{time}"#),
            ];
            fields.extend(extra);
            let n = fields.len();
            fields.rotate_left(order as usize % n);
            let sep = if spaces { ", " } else { "," };
            let text = format!(r#"{{"stream":"x@aggTrade","data":{{{}}}}}"#, fields.join(sep));
            if let Some(fast) = super::super::fast_trade::read(text.as_bytes()) {
                let slow = decode_trade_with_serde(text.as_bytes()).unwrap();
                prop_assert_eq!(Ok(fast), slow);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// A real-shaped frame with bytes changed, inserted or deleted: whatever the fast reader
        /// accepts, serde_json accepts as the same trade (a leading zero, a byte that is not
        /// UTF-8, a broken literal: each is serde_json's to judge).
        #[test]
        fn agrees_with_serde_json_on_damaged_frames(
            edits in prop::collection::vec(
                (0usize..200, prop::sample::select(
                    b"0123456789-+.eE\"{}[],: \\tnfu\x00\x1f\x7f\x80\xc3\xa9\xff".to_vec()
                ), 0u8..3),
                1..4,
            ),
        ) {
            let mut bytes = br#"{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1672515782136,"m":true,"M":true}}"#.to_vec();
            for (at, byte, how) in edits {
                let at = at % bytes.len();
                match how {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => drop(bytes.remove(at)),
                }
            }
            use super::super::fast_trade::{read_any_order, read_exact_layout};
            // Each of the fast reader's two ways, alone.
            for read in [read_exact_layout, read_any_order] {
                if let Some(fast) = read(&bytes) {
                    // serde_json itself, without the cheap look at the frame's first bytes that
                    // `decode_trade_with_serde` takes before it (whitespace is JSON's business).
                    let slow = serde_json::from_slice::<AggTradeFrame<'_>>(&bytes)
                        .map_err(|e| e.to_string())
                        .and_then(|frame| frame.data.into_trade_ref());
                    prop_assert_eq!(Ok(fast), slow, "{}", String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
}
