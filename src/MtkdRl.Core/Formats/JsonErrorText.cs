using System.Text.Json;
using System.Text.RegularExpressions;

namespace MtkdRl.Core.Formats;

/// <summary>
/// What a JSON file's parse error says, in the file's own terms: the field (its JSON path), the line, and what the
/// field should hold ("true or false", "a number", "an array"), without the .NET type names System.Text.Json's
/// messages carry ("could not be converted to System.Nullable`1[System.Boolean]").
/// </summary>
public static partial class JsonErrorText
{
    /// <summary>For example <c>teachers[0].flip_test: expected true or false (line 3)</c>.</summary>
    public static string Describe(JsonException e)
    {
        string what = Problem(e.Message);
        string field = Field(e.Path);
        string line = e.LineNumber is long n ? $"line {n + 1}" : "";
        string where = field.Length > 0 ? $"{field}: " : "";
        return line.Length > 0 ? $"{where}{what} ({line})" : where + what;
    }

    /// <summary>The message without the path and position the reader appends, its type names replaced.</summary>
    private static string Problem(string message)
    {
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        string what = (cut >= 0 ? message[..cut] : message).Trim().TrimEnd('.', ' ');
        var converted = ConvertedTo().Match(what);
        if (converted.Success) return "expected " + Expected(converted.Groups[1].Value);
        var unknown = UnknownProperty().Match(what);
        if (unknown.Success) return $"unknown field '{unknown.Groups[1].Value}'";
        var missing = MissingRequired().Match(what);
        if (missing.Success) return "missing required field(s): " + missing.Groups[1].Value.Trim().Trim('\'');
        return what.Length > 0 ? what : "not valid JSON";
    }

    private static string Field(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "";
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    /// <summary>What a value of the named .NET type looks like in JSON.</summary>
    internal static string Expected(string typeName)
    {
        var nullable = NullableOf().Match(typeName);
        if (nullable.Success) typeName = nullable.Groups[1].Value;
        switch (typeName)
        {
            case "System.Boolean": return "true or false";
            case "System.String": return "a string";
            case "System.Char": return "a one-character string";
            case "System.Byte" or "System.SByte" or "System.Int16" or "System.UInt16" or "System.Int32" or "System.UInt32"
                or "System.Int64" or "System.UInt64": return "an integer";
            case "System.Single" or "System.Double" or "System.Decimal" or "System.Half": return "a number";
        }
        if (typeName.EndsWith("[]", StringComparison.Ordinal) || typeName.Contains("List`1") || typeName.Contains("IEnumerable`1")
            || typeName.Contains("Collection`1") || typeName.Contains("HashSet`1")) return "an array";
        var type = Resolve(typeName);
        if (type is { IsEnum: true })
            return "one of " + string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName));
        return "an object";
    }

    private static Type? Resolve(string typeName)
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            var type = assembly.GetType(typeName, throwOnError: false);
            if (type is not null) return type;
        }
        return null;
    }

    [GeneratedRegex(@"^The JSON value could not be converted to (.+)$")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"^The JSON property '(.+?)' could not be mapped to any \.NET member")]
    private static partial Regex UnknownProperty();

    [GeneratedRegex(@"was missing required properties,? including(?: the following)?:? (.+)$")]
    private static partial Regex MissingRequired();

    [GeneratedRegex(@"^System\.Nullable`1\[(.+)\]$")]
    private static partial Regex NullableOf();
}
