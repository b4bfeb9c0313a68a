"""The texts a test author writes into next month's skeleton (not the shipped example): the four groups' texts
and every other field the plan's fora need. With them `check` finds no error (warnings only)."""
GROUPS = {
    "groups.management.headline": "Kravene til det fælles system er på plads i januar",
    "groups.management.lead": (
        "Vi har samlet ønskerne fra netværkene. Nu beder vi jer tale om kravene på jeres næste "
        "ledermøde."),
    "groups.management.text": (
        "Vi vil have ét system til dokumentation på hele Socialområdet. Det giver bedre overblik over "
        "borgerens forløb.\n\nI december har vi samlet ønskerne fra netværkene. I januar skriver vi dem "
        "ind i kravene. Jeres rolle er at bære beslutningen ud til jeres medarbejdere."),
    "groups.management.action.ask": (
        "Tal om kravene på jeres næste ledermøde, og send spørgsmål til projektgruppen."),
    "groups.management.action.by": "2027-01-08",
    "groups.employees.headline": "Dine ønsker til det nye system er samlet",
    "groups.employees.lead": "Tak for jeres ønsker. Nu skriver vi dem ind i kravene til det nye system.",
    "groups.employees.text": (
        "I dag skriver I i flere systemer. Det nye system skal samle det hele ét sted.\n\nIndtil "
        "systemet er valgt, arbejder du som i dag. Har du spørgsmål, så spørg din leder."),
    "groups.employees.action.ask": "Har du spørgsmål, så spørg din leder eller skriv til projektgruppen.",
    "groups.citizens.headline": "Vi arbejder på at gøre din hjælp lettere at følge",
    "groups.citizens.lead": (
        "Vi vil samle vores notater om din hjælp ét sted. Så skal du fortælle din historie færre gange."),
    "groups.citizens.text": (
        "Når du får hjælp fra os, skriver vi ned, hvad der sker. Nu vil vi samle det ét sted.\n\nDu "
        "skal ikke gøre noget. Din hjælp er den samme som i dag."),
    "groups.citizens.action.ask": "Skriv til os, hvis du vil vide mere.",
    "groups.others.headline": "Ønskerne til det fælles system er samlet",
    "groups.others.lead": (
        "Netværkene har givet os deres ønsker. Nu skriver vi kravene, og vi vil gerne høre fra jer."),
    "groups.others.text": (
        "Socialområdet vil samle sin dokumentation i ét system. I december har vi samlet ønskerne fra "
        "netværkene.\n\nI januar skriver vi kravene. I hører fra os igen i februar."),
    "groups.others.action.ask": "Del gerne jeres erfaringer med os.",
}
REST = {
    "title": "Status på det fælles system – december 2026",
    "summary": "Ønskerne fra netværkene er samlet. Nu skriver vi kravene til det fælles system.",
    "link": "",
    "contact.name": "Anne Holm",
    "contact.role": "projektleder",
    "timeline[0].when": "December 2026",
    "timeline[0].text": "Vi samler ønskerne fra netværkene.",
    "timeline[0].citizens": "",
    "forum_texts.oc.forward.headline": "Nyt om det fælles system",
    "forum_texts.oc.forward.text": (
        "Ønskerne fra netværkene er samlet. Nu skriver vi kravene. Har du spørgsmål, så spørg din leder."),
    "forum_texts.hmu.headline": "Status: ønskerne til systemet er samlet",
    "forum_texts.hmu.lead": "Her er HMU's orientering. Ønskerne fra netværkene er samlet.",
    "forum_texts.hmu.text": (
        "Et nyt system vil ændre hverdagen for mange kolleger. Derfor orienterer vi jer tidligt.\n\nI "
        "januar skriver vi kravene."),
    "forum_texts.hmu.action.ask": "Vi beder jer orientere LMU'erne.",
    "forum_texts.hmu.action.by": "2027-01-08",
    "forum_texts.hmu.forward.headline": "Orientering fra HMU om det nye system",
    "forum_texts.hmu.forward.text": (
        "Socialområdet samler ønsker til et nyt system. Du arbejder som i dag. Spørg din leder, hvis du "
        "vil vide mere."),
    "forum_texts.network_briefing.headline": "Tak for jeres ønsker til systemet",
    "forum_texts.network_briefing.lead": "Tak for jeres hjælp. Nu skriver vi kravene.",
    "forum_texts.network_briefing.text": (
        "Jeres ønsker er samlet. I januar skriver vi dem ind i kravene.\n\nVi vil gerne høre mere fra "
        "jer på en workshop."),
    "forum_texts.network_briefing.action.ask": "Meld jer til workshoppen.",
    "forum_texts.linkedin.hook": "Hvordan samler man dokumentationen for et helt socialområde?",
    "forum_texts.linkedin.text": (
        "Socialområdet i Region Midtjylland vil have ét fælles system til dokumentation. Nu skriver vi "
        "kravene."),
    "forum_texts.linkedin.action.ask": "Vil I høre mere? Skriv til os.",
    "forum_texts.linkedin.hashtags": "",
    "forum_texts.regional_intranet.headline": "Socialområdet samler sin dokumentation",
    "forum_texts.regional_intranet.lead": "Socialområdet skal have ét fælles system. Nu skriver vi kravene.",
    "forum_texts.regional_intranet.text": (
        "Medarbejderne skriver i dag i flere systemer. Dem skal ét system afløse.\n\nI januar skriver "
        "vi kravene."),
    "forum_texts.regional_intranet.action.ask": "Har du spørgsmål, så skriv til projektgruppen.",
    "forum_texts.midtnyt.headline": "Ét system skal samle dokumentationen",
    "forum_texts.midtnyt.lead": "Socialområdet har samlet ønskerne til et fælles system.",
    "forum_texts.midtnyt.text": (
        "Socialområdets medarbejdere bruger i dag flere systemer. I december blev ønskerne samlet.\n\nI "
        "januar skrives kravene."),
    "forum_texts.midtnyt.action.ask": "Vil du vide mere om projektet?",
}
for net, day in (("network_quality", "19"), ("network_sensum", "20"), ("network_health", "21")):
    REST.update({f"forum_texts.{net}.invitation.what": "Workshop om kravene til det nye system",
                 f"forum_texts.{net}.invitation.date": f"2027-01-{day}",
                 f"forum_texts.{net}.invitation.time": "9.00-12.00",
                 f"forum_texts.{net}.invitation.place": "Regionshuset Viborg, Skottenborg 26, 8800 Viborg",
                 f"forum_texts.{net}.invitation.reply_by": "2027-01-08"})
