using Husk.Cdi;
using Xunit;

namespace Husk.Tests.Cdi;

/// <summary>CDI names: vendor.com/class=name, as CDI's parser validates them.</summary>
public class QualifiedNameTests
{
    [Theory]
    [InlineData("vendor.com/gpu=0", "vendor.com", "gpu", "0")]
    [InlineData("nvidia.com/gpu=all", "nvidia.com", "gpu", "all")]
    [InlineData("foo.bar.baz/foo-bar123.B_az=dev:1.a_b-c", "foo.bar.baz", "foo-bar123.B_az", "dev:1.a_b-c")]
    [InlineData("v/c=n", "v", "c", "n")]
    [InlineData("vendor.com/class=GPU-0f3a:00", "vendor.com", "class", "GPU-0f3a:00")]
    public void Valid_names_parse(string name, string vendor, string cls, string dev)
    {
        var r = QualifiedName.TryParse(name, out var error);
        Assert.Null(error);
        Assert.Equal((vendor, cls, dev), r);
    }

    [Theory]
    [InlineData("", "unqualified")]
    [InlineData("gpu0", "unqualified")]
    [InlineData("/dev/null", "unqualified")]
    [InlineData("vendor.com/gpu", "unqualified")]
    [InlineData("vendor.com/gpu=", "unqualified")]
    [InlineData("=gpu0", "unqualified")]
    [InlineData("gpu=0", "missing vendor")]
    [InlineData("vendor.com/=0", "missing vendor")]
    [InlineData("1vendor.com/gpu=0", "must start with a letter")]
    [InlineData("vendor.com/gpu/x=0", "invalid character '/'")]
    [InlineData("vendor.com/gpu-=0", "must end with a letter or digit")]
    [InlineData("vendor.com/gpu=-0", "must start with a letter or digit")]
    [InlineData("vendor.com/gpu=0-", "must end with a letter or digit")]
    [InlineData("vendor.com/gpu=a b", "invalid character ' '")]
    [InlineData("vendor.com/gpu=a/b", "invalid character '/'")]
    public void Invalid_names_say_why(string name, string why)
    {
        Assert.Null(QualifiedName.TryParse(name, out var error));
        Assert.Contains(why, error);
    }

    [Fact]
    public void Class_is_limited_to_63_characters()
    {
        Assert.Null(QualifiedName.ValidateKind("vendor.com/" + new string('a', 63)));
        Assert.Contains("longer than 63", QualifiedName.ValidateKind("vendor.com/" + new string('a', 64)));
    }

    [Theory]
    [InlineData("vendor.com/foo", null)]
    [InlineData("foo", "is not vendor.com/class")]
    [InlineData("vendor.com/foo/", "must end with a letter or digit")]
    [InlineData("vendor.com/foo/bar", "invalid character '/'")]
    [InlineData("", "kind is empty")]
    public void Kinds_validate_as_the_spec_examples(string kind, string? why)
    {
        var error = QualifiedName.ValidateKind(kind);
        if (why is null) Assert.Null(error);
        else Assert.Contains(why, error);
    }
}
