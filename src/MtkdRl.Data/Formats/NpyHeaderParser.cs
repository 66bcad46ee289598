using System.Text;

namespace MtkdRl.Data.Formats;

/// <summary>
/// Parses the Python dict literal of an NPY header without evaluating anything: exactly the keys 'descr',
/// 'fortran_order' and 'shape', each once, in any order, with numpy's value forms only (a dtype string, True or
/// False, a tuple of non-negative integers). Any deviation is an error that names the offending character.
/// </summary>
internal sealed class NpyHeaderParser
{
    private readonly string _text;
    private int _pos;

    private NpyHeaderParser(string text) => _text = text;

    /// <summary>Returns null and a reason when the text is not a header this library reads.</summary>
    public static (NpyDType DType, int[] Shape)? TryParse(string text, out string problem)
    {
        problem = "";
        try
        {
            return new NpyHeaderParser(text).ParseDict();
        }
        catch (FormatException e)
        {
            problem = e.Message;
            return null;
        }
    }

    private (NpyDType, int[]) ParseDict()
    {
        SkipSpace();
        Expect('{');
        string? descr = null;
        bool? fortran = null;
        int[]? shape = null;
        while (true)
        {
            SkipSpace();
            if (Peek() == '}') break;
            int keyAt = _pos;
            string key = ParseString();
            SkipSpace();
            Expect(':');
            SkipSpace();
            switch (key)
            {
                case "descr":
                    if (descr is not null) throw Duplicate(key, keyAt);
                    if (Peek() == '[') throw new FormatException("structured dtypes (a list in 'descr') are not supported");
                    descr = ParseString();
                    break;
                case "fortran_order":
                    if (fortran is not null) throw Duplicate(key, keyAt);
                    fortran = ParseBool();
                    break;
                case "shape":
                    if (shape is not null) throw Duplicate(key, keyAt);
                    shape = ParseShape();
                    break;
                default:
                    throw new FormatException($"unexpected key '{Clean(key)}' in the header");
            }
            SkipSpace();
            if (Peek() == ',') { _pos++; continue; }
            SkipSpace();
            if (Peek() != '}') throw Unexpected("',' or '}'");
        }
        _pos++;
        for (; _pos < _text.Length; _pos++)
            if (_text[_pos] is not (' ' or '\n' or '\t' or '\r'))
                throw Unexpected("only padding after the header dict");

        if (descr is null) throw new FormatException("header has no 'descr'");
        if (fortran is null) throw new FormatException("header has no 'fortran_order'");
        if (shape is null) throw new FormatException("header has no 'shape'");
        if (fortran.Value)
            throw new FormatException("fortran_order=True is not supported; save the array in C order (np.ascontiguousarray)");
        NpyDType? dtype = NpyDTypes.TryParse(descr, out string problem);
        if (dtype is null) throw new FormatException(problem);
        return (dtype.Value, shape);
    }

    private int[] ParseShape()
    {
        if (Peek() != '(') throw Unexpected("a shape tuple");
        _pos++;
        var dims = new List<int>();
        bool trailingComma = false;
        while (true)
        {
            SkipSpace();
            if (Peek() == ')') break;
            dims.Add(ParseDimension());
            SkipSpace();
            trailingComma = Peek() == ',';
            if (trailingComma) { _pos++; continue; }
            if (Peek() != ')') throw Unexpected("',' or ')' in the shape");
        }
        _pos++;
        // Python reads "(3)" as the integer 3, not a tuple; numpy then rejects it, so do we.
        if (dims.Count == 1 && !trailingComma) throw new FormatException("shape '(n)' is not a tuple; numpy writes '(n,)'");
        if (dims.Count > 64) throw new FormatException($"shape has {dims.Count} dimensions, more than numpy allows (64)");
        return [.. dims];
    }

    private int ParseDimension()
    {
        int start = _pos;
        long value = 0;
        while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
        {
            value = value * 10 + (_text[_pos] - '0');
            if (value > int.MaxValue) throw new FormatException($"shape dimension at character {start} is larger than {int.MaxValue}");
            _pos++;
        }
        if (_pos == start) throw Unexpected("a non-negative integer dimension");
        return (int)value;
    }

    private bool ParseBool()
    {
        if (Matches("True")) { _pos += 4; return true; }
        if (Matches("False")) { _pos += 5; return false; }
        throw Unexpected("True or False");
    }

    private string ParseString()
    {
        char quote = Peek();
        if (quote is not ('\'' or '"')) throw Unexpected("a quoted string");
        int start = ++_pos;
        while (_pos < _text.Length && _text[_pos] != quote)
        {
            if (_text[_pos] == '\\') throw new FormatException($"escape sequence at character {_pos} is not expected in a header string");
            _pos++;
        }
        if (_pos >= _text.Length) throw new FormatException($"unterminated string starting at character {start - 1}");
        return _text[start.._pos++];
    }

    private bool Matches(string word) => string.CompareOrdinal(_text, _pos, word, 0, word.Length) == 0;

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private void Expect(char c)
    {
        if (Peek() != c) throw Unexpected($"'{c}'");
        _pos++;
    }

    private void SkipSpace()
    {
        while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r') _pos++;
    }

    private FormatException Unexpected(string expected) =>
        new(_pos >= _text.Length
            ? $"header ends early, expected {expected}"
            : $"header has '{Clean(_text[_pos].ToString())}' at character {_pos}, expected {expected}");

    private static FormatException Duplicate(string key, int at) => new($"key '{key}' appears twice in the header (character {at})");

    /// <summary>Keeps messages on one line and printable whatever the file contains.</summary>
    private static string Clean(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 40));
        foreach (char c in s.Length > 40 ? s[..40] : s)
            sb.Append(char.IsControl(c) || c > '~' ? '?' : c);
        return sb.ToString();
    }
}
