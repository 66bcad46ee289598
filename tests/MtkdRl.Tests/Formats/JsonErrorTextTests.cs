using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using Xunit;

namespace MtkdRl.Tests.Formats;

/// <summary>JSON parse errors as the file's fields and lines, from System.Text.Json's real exceptions.</summary>
public class JsonErrorTextTests
{
    public enum Shade { Light, DarkGrey }

    public sealed record Item
    {
        public required string Name { get; init; }
        public bool? FlipTest { get; init; }
        public int Epochs { get; init; }
        public double Rate { get; init; }
        public List<int> Sizes { get; init; } = [];
        public Shade Shade { get; init; }
    }

    public sealed record Document
    {
        public List<Item> Items { get; init; } = [];
    }

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static string Describe(string json)
    {
        var e = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<Document>(json, Options));
        return JsonErrorText.Describe(e);
    }

    [Theory]
    [InlineData("""{ "items": [ { "name": "a", "flip_test": "yes" } ] }""", "items[0].flip_test: expected true or false (line 1)")]
    [InlineData("""{ "items": [ { "name": "a", "epochs": 1.5 } ] }""", "items[0].epochs: expected an integer (line 1)")]
    [InlineData("""{ "items": [ { "name": "a", "rate": "fast" } ] }""", "items[0].rate: expected a number (line 1)")]
    [InlineData("""{ "items": [ { "name": "a", "sizes": 3 } ] }""", "items[0].sizes: expected an array (line 1)")]
    [InlineData("""{ "items": [ { "name": 4 } ] }""", "items[0].name: expected a string (line 1)")]
    [InlineData("""{ "items": [ { "name": "a", "shade": "blue" } ] }""", "items[0].shade: expected one of light, dark_grey (line 1)")]
    [InlineData("""{ "items": 7 }""", "items: expected an array (line 1)")]
    [InlineData("""[1, 2]""", "expected an object (line 1)")]
    public void A_value_of_the_wrong_kind_names_the_field_and_what_it_holds(string json, string expected) =>
        Assert.Equal(expected, Describe(json));

    [Fact]
    public void Unknown_and_missing_fields_and_broken_syntax_read_without_type_names()
    {
        string unknown = Describe("""{ "items": [ { "name": "a", "epoch": 3 } ] }""");
        Assert.Contains("unknown field 'epoch'", unknown);

        string missing = Describe("""{ "items": [ { "epochs": 3 } ] }""");
        Assert.Contains("missing required field(s): name", missing);

        string broken = Describe("{ \"items\": [\n  { \"name\": \"a\", }\n] }");
        Assert.Contains("(line 2)", broken);

        foreach (string text in new[] { unknown, missing, broken })
        {
            Assert.DoesNotContain("System.", text);
            Assert.DoesNotContain("MtkdRl.", text);
            Assert.DoesNotContain("LineNumber", text);
            Assert.DoesNotContain('\n', text);
        }
    }

    [Fact]
    public void A_recipe_with_a_flag_of_the_wrong_kind_is_one_line_naming_file_field_and_kind()
    {
        using var temp = new TempFolder();
        string path = temp.File("recipe.json");
        File.WriteAllText(path, """{ "teachers": [ { "name": "t", "spec": "unet:4x8", "flip_test": "yes" } ] }""");
        var e = Assert.Throws<MtkdInputException>(() => PoolRecipe.Read(path));
        Assert.Equal($"{path}: not a valid pool recipe (teachers[0].flip_test: expected true or false (line 1))", e.Message);
    }
}
