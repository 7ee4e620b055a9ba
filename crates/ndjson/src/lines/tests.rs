//! Tests of [`LineRange`].

use proptest::prelude::*;

use super::LineRange;

#[test]
fn ranges_hand_out_each_line_once() {
    let text = b"a\nbb\n\nccc\ndddd\ne";
    let lines = |start: u64, end: u64, chunk: usize| {
        let mut range = LineRange::new(start, end);
        let mut out = Vec::new();
        let from = range.next_offset() as usize;
        for piece in text[from..].chunks(chunk) {
            range
                .push(piece, |l| {
                    out.extend(l.split(|b| *b == b'\n').map(<[u8]>::to_vec));
                    Ok::<_, ()>(())
                })
                .unwrap();
        }
        range
            .finish(|l| {
                out.push(l.to_vec());
                Ok::<_, ()>(())
            })
            .unwrap();
        out
    };
    let s = |v: &[&str]| v.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    for chunk in [1, 2, 3, 100] {
        assert_eq!(lines(0, 1, chunk), s(&["a"]));
        assert_eq!(
            lines(1, 2, chunk),
            s(&[]),
            "byte 1 is the newline ending `a`"
        );
        assert_eq!(
            lines(2, 3, chunk),
            s(&["bb"]),
            "a line starting at the range's start"
        );
        assert_eq!(lines(3, 6, chunk), s(&[""]));
        assert_eq!(lines(6, 7, chunk), s(&["ccc"]));
        assert_eq!(
            lines(14, 16, chunk),
            s(&["e"]),
            "the last line has no newline"
        );
        assert_eq!(lines(0, 16, chunk), s(&["a", "bb", "", "ccc", "dddd", "e"]));
    }
}

proptest! {
    #[test]
    fn any_split_of_any_text_hands_out_each_line_once(
        text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x'), Just(b'y')], 0..80),
        mut cuts in proptest::collection::vec(0_u64..90, 0..4),
        chunk in 1_usize..9,
    ) {
        let size = text.len() as u64;
        cuts.push(0);
        cuts.push(size);
        cuts.iter_mut().for_each(|c| *c = (*c).min(size));
        cuts.sort_unstable();
        let mut got = Vec::new();
        for pair in cuts.windows(2) {
            let mut range = LineRange::new(pair[0], pair[1]);
            for piece in text[range.next_offset() as usize..].chunks(chunk) {
                range.push(piece, |l| { got.push(l.to_vec()); Ok::<_, ()>(()) }).unwrap();
            }
            range.finish(|l| { got.push(l.to_vec()); Ok::<_, ()>(()) }).unwrap();
        }
        let mut want = text.clone();
        if want.last() == Some(&b'\n') {
            want.pop();
        }
        prop_assert_eq!(got.join(&b'\n'), if text.is_empty() { vec![] } else { want });
    }
}
