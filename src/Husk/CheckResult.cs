namespace Husk;

/// <summary>One line of `husk check`: a named check, whether it passed, and what it found.</summary>
/// <param name="Name">Dotted name, e.g. "cgroup.layout".</param>
/// <param name="Status">"ok", "warn" (works with limits) or "fail" (will not work).</param>
/// <param name="Detail">What was found and, when not ok, why and what will not work.</param>
public sealed record CheckResult(string Name, string Status, string Detail)
{
    public const string Ok = "ok", Warn = "warn", Fail = "fail";
}
