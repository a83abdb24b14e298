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

public sealed class ReportUsageHandler(HostCommonNames names, IDocumentStore documents, IStorageErrors storage, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<ReportUsage, UsageAccepted>
{
    private const int Attempts = 10;

    /// <summary>
    /// Reports of one product that arrive at the same moment (a retry overlapping the original, say) both merge into
    /// its current usage: the second to commit finds the usage changed (optimistic concurrency) or created, and is
    /// read and merged again; a true replay is then recognised by its report ids.
    /// </summary>
    public async ValueTask<UsageAccepted> Handle(ReportUsage command, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var session = documents.LightweightSession();
            try
            {
                var accepted = await ReportAsync(session, command, cancellationToken);
                notifier.Publish(ChangeTopic.Licenses);
                return accepted;
            }
            catch (Exception ex) when (IsRace(ex))
            {
                if (attempt == Attempts)
                    throw new ConflictException("This product's usage is being changed by many requests at this moment: send the report again.");
                await Task.Delay(Random.Shared.Next(1, 3 * attempt), cancellationToken);
            }
        }
    }

    /// <summary>Another report of the product committed first: its usage changed, or it created it, or it stored the same report.</summary>
    private bool IsRace(Exception error) =>
        error is JasperFx.ConcurrencyException or JasperFx.DocumentAlreadyExistsException || storage.IsUniqueViolation(error);

    private async Task<UsageAccepted> ReportAsync(IDocumentSession session, ReportUsage command, CancellationToken cancellationToken)
    {
        await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var now = clock.UtcNow;
        // One round trip for all the request reads: the product, its current usage and which reports arrived before.
        var ids = command.Reports.ToDictionary(r => UsageRecord.IdOf(command.Request.InstanceId, r.ReportId, r.Tag));
        var batch = session.CreateBatchQuery();
        var loadInstance = batch.Load<ProductInstance>(command.Request.InstanceId);
        var loadUsage = batch.Load<ProductUsage>(command.Request.InstanceId);
        var loadKnown = batch.LoadMany<UsageRecord>().ById(ids.Keys.ToArray());
        await batch.Execute(cancellationToken);

        var instance = ProductRequests.Authenticate(await loadInstance, command.Request, command.Host, now);
        if (command.Reports.FirstOrDefault(r => r.To > now + RequestSignature.AllowedSkew) is { } future)
            throw new RegistrationException(RegistrationErrorCode.MalformedRequest,
                $"Report {future.ReportId} ends at {future.To:u}, in the future: set the product's clock (NTP).");

        var known = (await loadKnown).Select(u => u.Id).ToHashSet();
        var fresh = ids.Where(kv => !known.Contains(kv.Key)).ToList();
        var replayed = ids.Where(kv => known.Contains(kv.Key)).Select(kv => kv.Value.ReportId).Distinct().ToList();
        if (fresh.Count == 0)
            throw Replayed(replayed);

        foreach (var (id, report) in fresh)
            session.Insert(new UsageRecord
            {
                Id = id,
                AccountId = instance.AccountId,
                InstanceId = instance.Id,
                ReportId = report.ReportId,
                Tag = report.Tag,
                Count = report.Count,
                From = report.From,
                To = report.To,
                ReceivedAt = now,
            });
        var usage = await loadUsage;
        if (usage is null)
        {
            // Inserted, not stored: a report creating it at the same moment makes this one merge again.
            usage = new ProductUsage { Id = instance.Id, AccountId = instance.AccountId, VirtualAccountId = instance.VirtualAccountId };
            session.Insert(usage);
        }
        else
            session.Store(usage);
        usage.Merge(fresh.Select(f => new LicenseUse(f.Value.Tag, f.Value.Count, f.Value.To)), now);
        if (now - instance.LastContactAt >= ProductInstance.ContactResolution)
            ProductPatches.Queue(session, instance.Id, new { LastContactAt = now });
        await session.SaveChangesAsync(cancellationToken);
        return new UsageAccepted(instance.Id, fresh.Select(f => f.Value.ReportId).Distinct().ToList(), replayed);
    }

    private static RegistrationException Replayed(IReadOnlyList<string> reportIds) => new(RegistrationErrorCode.ReportReplayed,
        $"Already received: report {string.Join(", ", reportIds.Take(10))}{(reportIds.Count > 10 ? ", …" : "")}. Nothing was stored again.");
}
