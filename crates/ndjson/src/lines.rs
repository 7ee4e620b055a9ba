//! Whole lines of a byte range of an object, the way DataFusion splits line-delimited objects:
//! the range `[start, end)` holds the lines that start at or after `start` and before `end`, so
//! the line crossing `end` belongs to this range and not to the next.

/// Splits the chunks of one range into whole lines.
pub struct LineRange {
    /// Offset in the object of the next byte pushed.
    at: u64,
    end: u64,
    /// Skipping the line that started before the range (it belongs to the previous range).
    skipping: bool,
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
    done: bool,
}

impl LineRange {
    /// The lines starting in `[start, end)`. Bytes are pushed from [`Self::next_offset`] on: one
    /// byte before `start`, so a line starting exactly at `start` is recognised as one.
    pub fn new(start: u64, end: u64) -> Self {
        Self {
            at: start.saturating_sub(1),
            end,
            skipping: start > 0,
            carry: Vec::new(),
            done: start >= end,
        }
    }

    /// The offset in the object of the next byte to push (until the range is done).
    pub fn next_offset(&self) -> u64 {
        self.at
    }

    /// Whether the range's last line has been handed out.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Takes the next bytes of the object; hands whole lines (joined by newlines, without the
    /// last one) to `lines`.
    pub fn push<E>(
        &mut self,
        chunk: &[u8],
        mut lines: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = chunk;
        if self.done {
            return Ok(());
        }
        if self.skipping {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.at += rest.len() as u64;
                return Ok(());
            };
            self.skipping = false;
            self.at += i as u64 + 1;
            rest = &rest[i + 1..];
        }
        if !self.carry.is_empty() {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.carry.extend_from_slice(rest);
                self.at += rest.len() as u64;
                return Ok(());
            };
            self.carry.extend_from_slice(&rest[..i]);
            self.at += i as u64 + 1;
            rest = &rest[i + 1..];
            lines(&self.carry)?;
            self.carry.clear();
        }
        // `rest` starts a line, at offset `self.at`.
        if self.at >= self.end {
            self.done = true;
            return Ok(());
        }
        let limit = (self.end - self.at) as usize;
        if limit <= rest.len()
            && let Some(k) = memchr::memchr(b'\n', &rest[limit - 1..])
        {
            // The range's last line ends in this chunk.
            self.done = true;
            return lines(&rest[..limit - 1 + k]);
        }
        match memchr::memrchr(b'\n', rest) {
            Some(j) => {
                lines(&rest[..j])?;
                self.carry.extend_from_slice(&rest[j + 1..]);
            }
            None => self.carry.extend_from_slice(rest),
        }
        self.at += rest.len() as u64;
        Ok(())
    }

    /// The object has ended: hands out a last line that had no newline.
    pub fn finish<E>(&mut self, lines: impl FnOnce(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.done || self.skipping || self.carry.is_empty() {
            self.done = true;
            return Ok(());
        }
        self.done = true;
        lines(&std::mem::take(&mut self.carry))
    }
}

#[cfg(test)]
mod tests;
