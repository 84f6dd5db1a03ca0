//! A hand-rolled reader for the one frame shape that arrives thousands of times a second:
//! `{"stream":"<s>@aggTrade","data":{<flat object>}}`. It first tries the exact layout Binance
//! sends (its keys in its order, no whitespace), comparing the fixed parts whole; failing that,
//! it reads the flat object's keys in any order, in one pass without building anything. Both
//! give up (return `None`) on anything unusual — escapes, nesting, non-ASCII text — so the
//! caller falls back to serde_json. It exists because serde_json alone decodes these frames at
//! ~2.2 M/s here, and the matcher's target is 2 M/s including the match (see BENCHMARKS.md).
//!
//! Every frame it accepts is ASCII (its strings may hold printable ASCII only, and the JSON
//! around them is ASCII), so it never needs to check UTF-8 but for the symbol, once.

use super::trade::TradeRef;
use crate::domain::{is_exchange_symbol, Price};

/// The bytes that end a string for this reader: its closing quote, and every byte it leaves to
/// serde_json (an escape, a control character, anything not ASCII). One load a byte.
const STOPS: [bool; 256] = {
    let mut stops = [true; 256];
    let mut c = 0x20;
    while c < 0x80 {
        stops[c] = false;
        c += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

/// A string's printable ASCII, from just after its opening quote to just before its closing
/// one; `None` if a byte the reader leaves to serde_json comes first.
fn quoted(rest: &[u8]) -> Option<&[u8]> {
    let len = rest.iter().position(|&c| STOPS[usize::from(c)])?;
    (rest[len] == b'"').then(|| &rest[..len])
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string of printable ASCII without escapes; its bytes are borrowed.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let text = quoted(&self.bytes[self.at..])?;
        self.at += text.len() + 1;
        Some(text)
    }

    /// A number's text: `-?digits(.digits)?([eE][+-]?digits)?`, without a leading zero before
    /// another digit (JSON has none, and serde_json refuses them).
    fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0')
            && self
                .bytes
                .get(self.at + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            return None;
        }
        let digits = |r: &mut Self| {
            let n = r.bytes[r.at..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            r.at += n;
            n > 0
        };
        if !digits(self) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        Some(&self.bytes[start..self.at])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }
}

/// A number's text as an unsigned integer, if it is one and fits.
fn integer(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |n, &c| {
        let digit = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `Some` only when the frame is an aggTrade frame this reader fully understood.
pub fn read(text: &[u8]) -> Option<TradeRef<'_>> {
    read_exact_layout(text).or_else(|| read_any_order(text))
}

/// The rest of a frame, read in Binance's own layout.
struct Exact<'a> {
    rest: &'a [u8],
}

impl<'a> Exact<'a> {
    /// Fixed text.
    fn fixed(&mut self, text: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// A string's printable ASCII up to its closing quote (its opening one is in the fixed
    /// text before it).
    fn string(&mut self) -> Option<&'a [u8]> {
        let text = quoted(self.rest)?;
        self.rest = &self.rest[text.len() + 1..];
        Some(text)
    }

    /// A JSON integer without sign, fraction or exponent (whatever follows is the next fixed
    /// text's to check), of at most 19 digits, so that it fits a u64 (longer ones are the
    /// general reader's).
    fn integer(&mut self) -> Option<u64> {
        let mut value = 0u64;
        let mut len = 0;
        for &c in self.rest.iter().take(20) {
            let digit = c.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            len += 1;
        }
        if len == 0 || len > 19 || (len > 1 && self.rest[0] == b'0') {
            return None;
        }
        self.rest = &self.rest[len..];
        Some(value)
    }

    fn boolean(&mut self) -> Option<()> {
        self.fixed(b"true").or_else(|| self.fixed(b"false"))
    }
}

/// `{"stream":"<x>@aggTrade","data":{"e":"aggTrade","E":<n>,"s":"<symbol>","a":<n>,
/// "p":"<price>","q":"<qty>","f":<n>,"l":<n>,"T":<n>,"m":<bool>,"M":<bool>}}`, exactly.
pub(super) fn read_exact_layout(text: &[u8]) -> Option<TradeRef<'_>> {
    let mut r = Exact { rest: text };
    r.fixed(br#"{"stream":""#)?;
    if !r.string()?.ends_with(b"@aggTrade") {
        return None;
    }
    r.fixed(br#","data":{"e":"aggTrade","E":"#)?;
    r.integer()?;
    r.fixed(br#","s":""#)?;
    let symbol = r.string()?;
    r.fixed(br#","a":"#)?;
    let agg_id = r.integer()?;
    r.fixed(br#","p":""#)?;
    let price = r.string()?;
    r.fixed(br#","q":""#)?;
    r.string()?;
    r.fixed(br#","f":"#)?;
    r.integer()?;
    r.fixed(br#","l":"#)?;
    r.integer()?;
    r.fixed(br#","T":"#)?;
    let time = i64::try_from(r.integer()?).ok()?;
    r.fixed(br#","m":"#)?;
    r.boolean()?;
    r.fixed(br#","M":"#)?;
    r.boolean()?;
    r.fixed(b"}}")?;
    if !r.rest.is_empty() {
        return None;
    }
    trade(symbol, agg_id, price, time)
}

/// The trade, once its symbol and price are checked.
fn trade<'a>(symbol: &'a [u8], agg_id: u64, price: &[u8], time: i64) -> Option<TradeRef<'a>> {
    let symbol = std::str::from_utf8(symbol)
        .ok()
        .filter(|s| is_exchange_symbol(s))?;
    Some(TradeRef {
        symbol,
        agg_id,
        price: Price::parse_bytes(price).ok()?,
        time,
    })
}

/// The flat object's keys in any order, with whitespace anywhere JSON allows it.
pub(super) fn read_any_order(text: &[u8]) -> Option<TradeRef<'_>> {
    let mut r = Reader { bytes: text, at: 0 };
    r.eat(b'{')?;
    if r.string()? != b"stream" {
        return None;
    }
    r.eat(b':')?;
    if !r.string()?.ends_with(b"@aggTrade") {
        return None;
    }
    r.eat(b',')?;
    if r.string()? != b"data" {
        return None;
    }
    r.eat(b':')?;
    r.eat(b'{')?;
    let (mut symbol, mut agg_id, mut price, mut time) = (None, None, None, None);
    loop {
        let key = r.string()?;
        r.eat(b':')?;
        r.skip_ws();
        match r.peek()? {
            b'"' => {
                let value = r.string()?;
                // A repeated key is an error for serde_json; leave such frames to it.
                match key {
                    b"s" if symbol.replace(value).is_some() => return None,
                    b"p" if price.replace(value).is_some() => return None,
                    b"a" | b"T" => return None,
                    _ => {}
                }
            }
            b't' => r.literal(b"true")?,
            b'f' => r.literal(b"false")?,
            b'n' => r.literal(b"null")?,
            _ => {
                let value = r.number()?;
                match key {
                    b"a" if agg_id.replace(integer(value)?).is_some() => return None,
                    b"T" => {
                        let t = i64::try_from(integer(value)?).ok()?;
                        if time.replace(t).is_some() {
                            return None;
                        }
                    }
                    b"s" | b"p" => return None,
                    _ => {}
                }
            }
        }
        r.skip_ws();
        match r.peek()? {
            b',' => r.at += 1,
            b'}' => {
                r.at += 1;
                break;
            }
            _ => return None,
        }
    }
    r.eat(b'}')?;
    r.skip_ws();
    if r.at != text.len() {
        return None;
    }
    trade(symbol?, agg_id?, price?, time?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_frame_either_way() {
        let text = br#"{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1672515782136,"m":false,"M":true}}"#;
        for t in [read_exact_layout(text), read_any_order(text), read(text)] {
            let t = t.unwrap();
            assert_eq!(
                (t.symbol, t.agg_id, t.time),
                ("BNBBTC", 26129, 1672515782136)
            );
            assert_eq!(t.price.to_string(), "0.01633102");
        }
    }

    #[test]
    fn the_exact_layout_leaves_other_layouts_to_the_general_reader() {
        for text in [
            // Keys in another order, whitespace, a field missing or added.
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"a":1,"s":"BNBBTC","p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}"#,
            r#"{"stream":"x@aggTrade", "data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true,"x":1}}"#,
            // A number the exact layout does not take: JSON allows it, serde_json decides.
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1.5e3,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}"#,
        ] {
            assert!(read_exact_layout(text.as_bytes()).is_none(), "{text}");
            assert!(read(text.as_bytes()).is_some(), "{text}");
        }
    }

    #[test]
    fn gives_up_on_the_unusual() {
        for text in [
            r#"{"stream":"x@aggTrade","data":{"s":"BNB\u0042TC","a":1,"p":"1","T":1}}"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1,"p":"1","T":1,"x":{}}}"#,
            r#"{"data":{"s":"BNBBTC","a":1,"p":"1","T":1},"stream":"x@aggTrade"}"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1.5,"p":"1","T":1}}"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1,"p":"1","T":1}} trailing"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","p":"1","T":1}}"#,
            r#"{"stream":"x@trade","data":{"s":"BNBBTC","a":1,"p":"1","T":1}}"#,
            // JSON has no leading zeros: serde_json refuses this frame, so must the reader.
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1,"p":"1","T":0672515782136}}"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":01,"p":"1","T":1}}"#,
            // Text that is not ASCII is left to serde_json, which checks it is UTF-8.
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1,"p":"1","T":1,"n":"é"}}"#,
            // Past the integer types.
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":18446744073709551616,"p":"1","T":1}}"#,
            r#"{"stream":"x@aggTrade","data":{"s":"BNBBTC","a":1,"p":"1","T":9223372036854775808}}"#,
            // The exact layout, each with one thing wrong.
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":01,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":tru}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1\u0031","f":1,"l":1,"T":1,"m":true,"M":true}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":,"l":1,"T":1,"m":true,"M":true}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}}"#,
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":1,"p":"1","q":"1","f":1,"l":1,"T":9223372036854775808,"m":true,"M":true}}"#,
        ] {
            assert!(read(text.as_bytes()).is_none(), "{text}");
        }
    }
}
