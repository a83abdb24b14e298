using AngleSharp.Dom;
using Bunit;
using FluentValidation;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>bUnit with MudBlazor and the node's real message handling on the test database.</summary>
public static class ComponentTestContext
{
    public static BunitContext Create(ServiceFixture fixture, string user, string role)
    {
        // The pages send real commands to PostgreSQL: on a busy 2-core runner bUnit's 1 s default wait is too short.
        BunitContext.DefaultWaitTimeout = TimeSpan.FromSeconds(10);
        var context = new BunitContext();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        context.Services.AddMudServices();
        context.AddAuthorization().SetAuthorized(user).SetRoles(role);
        context.Services.AddSingleton(fixture.Notifier);
        context.Services.AddSingleton(fixture.Services.GetRequiredService<IValidator<CreateAccount>>());
        context.Services.AddSingleton(fixture.Services.GetRequiredService<IValidator<Application.Registration.CreateRegistrationToken>>());
        context.Services.AddScoped(sp => new UiSender(
            fixture.Services.GetRequiredService<IServiceScopeFactory>(), sp.GetRequiredService<AuthenticationStateProvider>()));
        return context;
    }

    /// <summary>The input element of a MudBlazor field marked with data-testid.</summary>
    public static IElement Input(this IRenderedComponent<Microsoft.AspNetCore.Components.IComponent> cut, string testId) =>
        cut.FindAll($"input[data-testid={testId}]").FirstOrDefault() ?? cut.Find($"[data-testid={testId}] input");
}
