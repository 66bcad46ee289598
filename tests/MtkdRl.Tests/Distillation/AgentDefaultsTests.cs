using MtkdRl.Distillation;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The agents' defaults as a run's recipe settles them (DistillRecipe.ForStrategy): mtkd-rl-ppo backs off and mtkd-rl-paper
/// weighs rows summing to 1 unless told otherwise; ebkd keeps its reference scale; options the user gives win.
/// </summary>
public class AgentDefaultsTests
{
    private static readonly string[] Strategies = ["none", "aver", "ca-mkd", "ebkd", "mtkd-rl-paper", "mtkd-rl-ppo"];

    [Fact]
    public void Without_options_only_ppo_backs_off_and_only_the_paper_agent_has_unit_rows()
    {
        var template = new DistillRecipe();
        foreach (string s in Strategies)
        {
            var run = template.ForStrategy(s, 1);
            Assert.Equal(s == "mtkd-rl-ppo", run.BackOff);
            Assert.Equal(s == "mtkd-rl-paper", run.UnitRows);
            Assert.Equal(run, run.ForStrategy(s, 1));
        }
    }

    [Theory]
    [InlineData(true, "mtkd-rl-ppo", true)]
    [InlineData(true, "mtkd-rl-paper", true)]
    [InlineData(true, "aver", false)]
    [InlineData(false, "mtkd-rl-ppo", false)]
    [InlineData(false, "mtkd-rl-paper", false)]
    public void Back_off_as_asked_applies_to_the_agents_only(bool asked, string strategy, bool expected) =>
        Assert.Equal(expected, new DistillRecipe { BackOff = asked }.ForStrategy(strategy, 1).BackOff);

    [Theory]
    [InlineData(true, "ebkd", true)]
    [InlineData(true, "mtkd-rl-paper", true)]
    [InlineData(true, "aver", false)]
    [InlineData(false, "ebkd", false)]
    [InlineData(false, "mtkd-rl-paper", false)]
    public void Row_scale_as_asked_applies_to_ebkd_and_the_paper_agent_only(bool asked, string strategy, bool expected) =>
        Assert.Equal(expected, new DistillRecipe { UnitRows = asked }.ForStrategy(strategy, 1).UnitRows);

    [Fact]
    public void The_strategy_options_carry_the_settled_defaults()
    {
        var ppo = new DistillRecipe { Strategy = "mtkd-rl-ppo" }.StrategyOptions(10, [4, 4]);
        Assert.True(ppo.Ppo.LabelsSlot);
        Assert.Equal(32, ppo.Ppo.RowsPerBatch);
        var plain = new DistillRecipe { Strategy = "mtkd-rl-ppo", BackOff = false }.StrategyOptions(10, [4, 4]);
        Assert.False(plain.Ppo.LabelsSlot);

        var paper = new DistillRecipe { Strategy = "mtkd-rl-paper" }.StrategyOptions(10, [4, 4]);
        Assert.True(paper.UnitRows);
        Assert.False(paper.Paper.BackOff);
        Assert.False(new DistillRecipe { Strategy = "ebkd" }.StrategyOptions(10, [4, 4]).UnitRows);
        Assert.False(new DistillRecipe { Strategy = "mtkd-rl-paper", UnitRows = false }.StrategyOptions(10, [4, 4]).UnitRows);
    }
}
