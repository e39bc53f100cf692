//! Typo help: the closest of a set of known words by edit distance (Levenshtein with
//! adjacent transpositions counted as one edit).

/// The candidate closest to `word`, if it is close enough to be a likely typo: at most
/// one edit for words up to 4 characters, two up to 10, three beyond. Words longer than
/// 64 characters get no suggestion (and cost nothing).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let len = word.chars().count();
    if len == 0 || len > 64 {
        return None;
    }
    let max = match len {
        0..=4 => 1,
        5..=10 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .filter(|c| c.len() <= 64)
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance between two strings, by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("sssh", "ssh"), 1);
        assert_eq!(distance("prot", "port"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("é", "e"), 1);
    }

    #[test]
    fn suggestions() {
        let known = ["rd.sesame.ssh.port", "rd.sesame.ssh", "rd.sesame.net.keep"];
        assert_eq!(
            closest("rd.sesame.sssh.port", &known),
            Some("rd.sesame.ssh.port")
        );
        assert_eq!(
            closest("rd.sesame.ssh.prot", &known),
            Some("rd.sesame.ssh.port")
        );
        assert_eq!(
            closest("rd.sesame.net.kep", &known),
            Some("rd.sesame.net.keep")
        );
        assert_eq!(closest("rd.sesame.colour", &known), None);
        assert_eq!(closest("", &known), None);
        assert_eq!(closest(&"x".repeat(10_000), &known), None);
    }
}
