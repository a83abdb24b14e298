using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

public sealed record UsageReport(string ReportId, string Tag, int Count, DateTimeOffset From, DateTimeOffset To);

public sealed record UsageAccepted(Guid InstanceId, IReadOnlyList<string> Accepted, IReadOnlyList<string> AlreadyReceived);

/// <summary>
/// A product reports how many of each license it used in a time window (a RUM report). Idempotent on the
/// report id: a report received before is never stored twice, and a request holding only such reports is
/// answered with ReportReplayed.
/// </summary>
[Sender(SenderRole.Public)]
public sealed record ReportUsage(string Host, SignedRequest Request, IReadOnlyList<UsageReport> Reports) : ICommand<UsageAccepted>;

public sealed class ReportUsageValidator : AbstractValidator<ReportUsage>
{
    public const int MaxReports = 100;
    public const int TagMaxLength = 200;
    public const int MaxCount = 1_000_000;

    public ReportUsageValidator()
    {
        RuleFor(x => x.Reports).NotNull().Must(r => r is { Count: >= 1 and <= MaxReports })
            .WithMessage($"reports must hold 1 to {MaxReports} reports.");
        RuleForEach(x => x.Reports).NotNull().WithMessage("A report must be an object, not null.").ChildRules(r =>
        {
            r.RuleFor(x => x.ReportId).NotEmpty().WithMessage("Every report needs a reportId.").MaximumLength(100).Printable();
            r.RuleFor(x => x.Tag).NotEmpty().WithMessage("Every report needs a tag.").MaximumLength(TagMaxLength).Printable();
            r.RuleFor(x => x.Count).InclusiveBetween(0, MaxCount);
            r.RuleFor(x => x).Must(x => x.From < x.To).WithName("window").WithMessage("A report's window must end after it starts.");
        });
        RuleFor(x => x.Reports).Must(r => r is null || r.Any(x => x is null) || r.Select(x => (x.ReportId, x.Tag)).Distinct().Count() == r.Count)
            .WithMessage("A request may hold each report id and tag once.");
    }
}

public sealed class ReportUsageHandler(HostCommonNames names, IDocumentStore documents, UsageCommits commits, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<ReportUsage, UsageAccepted>
{
    /// <summary>
    /// The address rule here; the product's signature, its clock, which reports are new and the merge into its usage
    /// are judged with the other requests arriving at the same moment, and committed with them (<see cref="UsageCommits"/>).
    /// Reports of one product that arrive at the same moment (a retry overlapping the original, say) all merge into its
    /// current usage; a true replay is recognised by its report ids.
    /// </summary>
    public async ValueTask<UsageAccepted> Handle(ReportUsage command, CancellationToken cancellationToken)
    {
        await using (var session = documents.QuerySession())
            await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var accepted = await commits.ReportAsync(command, clock.UtcNow, cancellationToken);
        notifier.Publish(ChangeTopic.Licenses);
        return accepted;
    }
}
